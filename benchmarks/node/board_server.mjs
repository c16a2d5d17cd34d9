// bull-board's API on Express, as its README sets it up, over the given BullMQ queues.
// Prints {"port": N} once it listens on 127.0.0.1; SIGTERM stops it.
// Usage: node board_server.mjs REDIS_URL PREFIX QUEUE [QUEUE ...]
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import { Queue } from "bullmq";
import express from "express";
import IORedis from "ioredis";

const [url, prefix, ...names] = process.argv.slice(2);
const connection = new IORedis(url, { maxRetriesPerRequest: null });
const queues = names.map((name) => new Queue(name, { connection, prefix }));
const serverAdapter = new ExpressAdapter();
serverAdapter.setBasePath("/");
createBullBoard({ queues: queues.map((queue) => new BullMQAdapter(queue)), serverAdapter });
const app = express();
app.use("/", serverAdapter.getRouter());
const server = app.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));
process.on("SIGTERM", async () => {
  server.close();
  await Promise.all(queues.map((queue) => queue.close()));
  await connection.quit();
  process.exit(0);
});

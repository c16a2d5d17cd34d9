// What Node BullMQ's own API says about jobs, after optionally removing some with its own queue.remove.
// Prints {"counts": queue.getJobCounts(), "found": {id: Job.fromId(...) !== undefined}, "states": {id: state}}.
// Usage: node inspect_jobs.mjs REDIS_URL '["id", ...]' [PREFIX] ['["id to remove", ...]']
import { Job, Queue } from "bullmq";
import { connect, QUEUE_NAME } from "./thesis_queue.mjs";

const [url, idsJson, prefix = "bull", removeJson = "[]"] = process.argv.slice(2);
const connection = connect(url);
const queue = new Queue(QUEUE_NAME, { connection, prefix });
for (const id of JSON.parse(removeJson)) {
  await queue.remove(id);
}
const found = {};
const states = {};
for (const id of JSON.parse(idsJson)) {
  const job = await Job.fromId(queue, id);
  found[id] = job !== undefined;
  states[id] = await queue.getJobState(id);
}
const counts = await queue.getJobCounts();
console.log(JSON.stringify({ counts, found, states }));
await queue.close();
await connection.quit();

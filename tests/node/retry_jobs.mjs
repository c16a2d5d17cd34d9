// Times Node BullMQ's own bulk retry, queue.retryJobs({state: "failed"}), and prints the seconds.
// Usage: node retry_jobs.mjs REDIS_URL [PREFIX] [COUNT_PER_STEP]
import { Queue } from "bullmq";
import { connect, QUEUE_NAME } from "./thesis_queue.mjs";

const [url, prefix = "bull", count = "1000"] = process.argv.slice(2);
const connection = connect(url);
const queue = new Queue(QUEUE_NAME, { connection, prefix });
const started = process.hrtime.bigint();
await queue.retryJobs({ state: "failed", count: Number(count) });
console.log(JSON.stringify({ seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
await queue.close();
await connection.quit();

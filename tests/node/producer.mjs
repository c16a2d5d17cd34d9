// Adds thesis jobs the way the Next.js API route does and prints their ids as one JSON array.
// Usage: node producer.mjs REDIS_URL '[{"thesisId": "t1", "topic": "..."}, ...]' [PREFIX] [OPTS_JSON]
// OPTS_JSON overrides the queue's default job options: one object for every job (for example
// {"attempts": 1}), or an array of one object per job (for example [{"jobId": "soak-1"}, ...]).
import { Queue } from "bullmq";
import { connect, DEFAULT_JOB_OPTIONS, JOB_NAME, QUEUE_NAME } from "./thesis_queue.mjs";

const [url, jobsJson, prefix = "bull", optsJson = "{}"] = process.argv.slice(2);
const connection = connect(url);
const queue = new Queue(QUEUE_NAME, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
const opts = JSON.parse(optsJson);
const ids = [];
for (const [index, data] of JSON.parse(jobsJson).entries()) {
  const job = await queue.add(JOB_NAME, data, Array.isArray(opts) ? opts[index] ?? {} : opts);
  ids.push(job.id);
}
console.log(JSON.stringify(ids));
await queue.close();
await connection.quit();

// The thesis worker: concurrency 3, progress 10 then 100; `fail: true` in the data makes a job fail,
// `workMs` says how long a job works. Prints "ready" once it takes jobs; SIGTERM closes it cleanly.
// Usage: node worker.mjs REDIS_URL [PREFIX] [OPTIONS_JSON]
// OPTIONS_JSON adds Worker options (for example {"name": "node-1", "metrics": {"maxDataPoints": 10080}}).
import { Worker } from "bullmq";
import { connect, QUEUE_NAME } from "./thesis_queue.mjs";

const [url, prefix = "bull", optionsJson = "{}"] = process.argv.slice(2);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function generateThesis(job) {
  await job.updateProgress(10);
  await job.log(`generating thesis ${job.data.thesisId}`);
  await sleep(job.data.workMs ?? 50);
  if (job.data.fail) {
    throw new Error(`thesis ${job.data.thesisId} failed on purpose`);
  }
  await job.updateProgress(100);
  return { thesisId: job.data.thesisId, words: job.data.targetWords ?? 8000 };
}

const worker = new Worker(QUEUE_NAME, generateThesis, {
  connection: connect(url),
  prefix,
  concurrency: 3,
  ...JSON.parse(optionsJson),
});
worker.on("ready", () => console.log("ready"));
worker.on("error", (err) => console.error(`worker error: ${err.message}`));
process.on("SIGTERM", async () => {
  await worker.close();
  process.exit(0);
});

// The thesis system's queue set-up, as its lib/queue.ts has it: one queue, one job name, one set of options.
import IORedis from "ioredis";

export const QUEUE_NAME = "thesis-generation";
export const JOB_NAME = "generate-thesis";
export const DEFAULT_JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: "exponential", delay: 2000 },
  removeOnComplete: { age: 24 * 3600, count: 100 },
  removeOnFail: { count: 500 },
};

export function connect(url) {
  // BullMQ workers block on Redis; ioredis must not give up on a blocked command.
  return new IORedis(url, { maxRetriesPerRequest: null });
}

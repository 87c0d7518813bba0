#!/usr/bin/env node
// One autocannon run, in its own process so the runner can pin it to a core of its own (`taskset -c 1`)
// away from the server under test. Reads the run's options as JSON from argv[2] and prints autocannon's
// result as JSON on stdout.
//
// Options: { url, path, connections, duration, ids?: [min, max] }. When `ids` is set, every request
// replaces `{id}` in `path` with a uniformly random integer in [min, max].
import autocannon from "autocannon";

const { url, path, connections, duration, ids } = JSON.parse(process.argv[2]);

/** @type {import("autocannon").Options} */
const options = { url, connections, duration, pipelining: 1 };

if (ids) {
  const [min, max] = ids;
  const span = max - min + 1;
  options.requests = [
    {
      method: "GET",
      setupRequest: (req) => ({
        ...req,
        path: path.replace("{id}", String(min + Math.floor(Math.random() * span))),
      }),
    },
  ];
} else {
  options.requests = [{ method: "GET", path }];
}

const result = await autocannon(options);
process.stdout.write(`${JSON.stringify(result)}\n`);

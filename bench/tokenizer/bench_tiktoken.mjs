// bench_tiktoken.mjs - js-tiktoken r50k_base encode throughput on the same corpus, same run as
// bench_tokenizer. Usage: node bench_tiktoken.mjs CORPUS [REPS] [IDS_OUT.i32]
// (js-tiktoken is installed by run.sh into a scratch folder; it is never a build dependency.)
import { readFileSync, writeFileSync } from "node:fs";
import { getEncoding } from "js-tiktoken";

const [corpusPath, repsArg, idsOut] = process.argv.slice(2);
const reps = Number(repsArg || 3);
const buf = readFileSync(corpusPath);
const text = buf.toString("utf8");
const mb = buf.length / 1e6;
const t0 = performance.now();
const enc = getEncoding("r50k_base");
const loadMs = performance.now() - t0;
let best = Infinity, ids = null;
for (let r = 0; r < reps; r++) {
  const a = performance.now();
  ids = enc.encode(text, [], []);   // special tokens are plain text, like mmgpt's default
  const ms = performance.now() - a;
  if (ms < best) best = ms;
}
console.log(`js-tiktoken 1 thread: ${(mb / (best / 1e3)).toFixed(1).padStart(8)} MB/s  (${ids.length} tokens, ${best.toFixed(1)} ms; ranks loaded in ${loadMs.toFixed(1)} ms)`);
console.log(`RESULT tiktoken_1t_mbps=${(mb / (best / 1e3)).toFixed(2)} tokens=${ids.length}`);
if (idsOut) writeFileSync(idsOut, Buffer.from(Int32Array.from(ids).buffer));

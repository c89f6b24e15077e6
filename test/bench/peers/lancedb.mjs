// LanceDB peer for test/bench/run.sh.
//
//   node lancedb.mjs CSV MODE ROWS FRAGMENTS RUNS WORKDIR
//
// Reads the first ROWS rows of the events CSV (gen_events.c) into Arrow
// batches once, then for each of RUNS runs (untimed) writes a fresh LanceDB
// table of those rows as FRAGMENTS appends (one fragment each), and times
// only table.optimize() (compaction of small fragments; pruning of old
// versions keeps its default of 7 days, so it removes nothing):
//
//   merge   optimize the FRAGMENTS fragments
//   delete  delete the rows with id % 5 = 0 (untimed), then optimize (which
//           merges the fragments and materializes the deletions)
//
// One line per run on stdout, run 1 first:
//
//   lancedb: mode=merge rows=1000000 run=1 seconds=0.812 fragments_before=100 fragments_after=1 rows_after=1000000 bytes_after=78000000 dir_bytes=157000000
//
// bytes_after is the table's size after optimize (table.stats()), dir_bytes
// its directory, old versions included.
import * as lancedb from "@lancedb/lancedb";
import { createRequire } from "node:module";
import { createReadStream, rmSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";

// apache-arrow through require(): LanceDB loads its CommonJS build, and its
// instanceof checks fail on the classes of the ES module build (the table
// then arrives empty)
const { makeData, makeVector, vectorFromArray, Table, Int64, Int32, Float64, Utf8, TimestampMicrosecond } =
	createRequire(import.meta.url)("apache-arrow");

const [csv, mode, rowsArg, fragsArg, runsArg, workdir] = process.argv.slice(2);
if (!csv || !["merge", "delete"].includes(mode) || !workdir) {
	console.error("usage: node lancedb.mjs CSV merge|delete ROWS FRAGMENTS RUNS WORKDIR");
	process.exit(2);
}
const rows = Number(rowsArg), frags = Number(fragsArg || 100), runs = Number(runsArg || 1);
const step = Math.ceil(rows / frags);

// one Arrow table per fragment: rows (i*step, (i+1)*step]
function batch(b) {
	const n = b.id.length;
	const fixed = (type, arr) => makeVector(makeData({ type, length: n, data: arr }));
	return new Table({
		id: fixed(new Int64(), BigInt64Array.from(b.id)),
		ts: fixed(new TimestampMicrosecond("UTC"), BigInt64Array.from(b.ts)),
		user_id: fixed(new Int32(), Int32Array.from(b.user_id)),
		lat: fixed(new Float64(), Float64Array.from(b.lat)),
		lon: fixed(new Float64(), Float64Array.from(b.lon)),
		amount: fixed(new Float64(), Float64Array.from(b.amount)),
		category: vectorFromArray(b.category, new Utf8()),
		payload: vectorFromArray(b.payload, new Utf8()),
	});
}
const empty = () => ({ id: [], ts: [], user_id: [], lat: [], lon: [], amount: [], category: [], payload: [] });
const batches = [];
let cur = empty(), nread = 0;
const secCache = new Map();
for await (const line of createInterface({ input: createReadStream(csv), crlfDelay: Infinity })) {
	if (nread >= rows) break;
	const f = line.split(",");
	// "2024-01-01 00:00:00.922173+00" -> microseconds since the epoch
	const sec = f[1].slice(0, 19);
	let ms = secCache.get(sec);
	if (ms === undefined) {
		ms = Date.parse(sec.replace(" ", "T") + "Z");
		if (secCache.size > 100000) secCache.clear();
		secCache.set(sec, ms);
	}
	cur.id.push(BigInt(f[0]));
	cur.ts.push(BigInt(ms) * 1000n + BigInt(f[1].slice(20, 26)));
	cur.user_id.push(Number(f[2]));
	cur.lat.push(Number(f[3]));
	cur.lon.push(Number(f[4]));
	cur.amount.push(Number(f[5]));
	cur.category.push(f[6]);
	cur.payload.push(f[7]);
	if (++nread % step === 0) { batches.push(batch(cur)); cur = empty(); }
}
if (cur.id.length) batches.push(batch(cur));
if (nread !== rows) {
	console.error(`lancedb: read ${nread} rows, expected ${rows}`);
	process.exit(1);
}

function du(p) {
	const st = statSync(p);
	if (!st.isDirectory()) return st.size;
	return readdirSync(p).reduce((s, e) => s + du(join(p, e)), 0);
}

for (let run = 1; run <= runs; run++) {
	rmSync(workdir, { recursive: true, force: true });
	mkdirSync(workdir, { recursive: true });
	const db = await lancedb.connect(workdir);
	const tbl = await db.createTable("ev", batches[0]);
	for (const b of batches.slice(1)) await tbl.add(b);
	if (mode === "delete") await tbl.delete("id % 5 = 0");
	const before = (await tbl.stats()).fragmentStats.numFragments;
	const t0 = process.hrtime.bigint();
	await tbl.optimize();
	const s = Number(process.hrtime.bigint() - t0) / 1e9;
	const st = await tbl.stats();
	console.log(`lancedb: mode=${mode} rows=${rows} run=${run} seconds=${s.toFixed(4)} fragments_before=${before} ` +
		`fragments_after=${st.fragmentStats.numFragments} rows_after=${st.numRows} bytes_after=${st.totalBytes} dir_bytes=${du(join(workdir, "ev.lance"))}`);
	tbl.close();
	db.close();
}
rmSync(workdir, { recursive: true, force: true });

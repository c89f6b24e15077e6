// DuckDB peer for test/bench/run.sh.
//
//   node duckdb.mjs CSV MODE ROWS RUNS OUTDIR
//
// Loads the first ROWS rows of the events CSV (gen_events.c) into an
// in-memory DuckDB table (untimed), then times RUNS writes of MODE:
//
//   sort    COPY (SELECT * ORDER BY user_id, ts) TO parquet, zstd
//   morton  COPY (SELECT * ORDER BY <Z-order key of (lat, lon)>) TO parquet,
//           zstd; the key interleaves the bits of lat and lon scaled to
//           32-bit unsigned integers over their full ranges (no built-in
//           Morton function in DuckDB's core; the spatial extension's
//           ST_Hilbert would have to be downloaded)
//   size    COPY (SELECT * in id order) TO parquet, zstd (the bytes are what
//           the "size" case compares against)
//
// DuckDB runs with its default settings (all cores: 2 here). One line per
// run on stdout, run 1 first:
//
//   duckdb: mode=sort rows=1000000 run=1 seconds=0.812 bytes=61234567
import { DuckDBInstance } from "@duckdb/node-api";
import { statSync, rmSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const [csv, mode, rowsArg, runsArg, outdir] = process.argv.slice(2);
if (!csv || !["sort", "morton", "size"].includes(mode) || !outdir) {
	console.error("usage: node duckdb.mjs CSV sort|morton|size ROWS RUNS OUTDIR");
	process.exit(2);
}
const rows = Number(rowsArg);
const runs = Number(runsArg || 1);
mkdirSync(outdir, { recursive: true });

const db = await DuckDBInstance.create(":memory:");
const con = await db.connect();
const q = (sql) => con.run(sql);
const one = async (sql) => (await con.runAndReadAll(sql)).getRows()[0][0];

const lit = (s) => "'" + s.replace(/'/g, "''") + "'";
await q(`CREATE TABLE ev AS SELECT * FROM read_csv(${lit(csv)}, header = false, delim = ',', quote = '',
	columns = {'id': 'BIGINT', 'ts': 'TIMESTAMPTZ', 'user_id': 'INTEGER', 'lat': 'DOUBLE', 'lon': 'DOUBLE',
			   'amount': 'DOUBLE', 'category': 'VARCHAR', 'payload': 'VARCHAR'})
	WHERE id <= ${rows} ORDER BY id`);
const n = Number(await one("SELECT count(*) FROM ev"));
if (n !== rows) {
	console.error(`duckdb: loaded ${n} rows, expected ${rows}`);
	process.exit(1);
}

// spread the low 32 bits of x over the even bits of a 64-bit integer
await q(`CREATE MACRO spread1(x) AS (x | (x << 16)) & 281470681808895::UBIGINT`);		// 0x0000FFFF0000FFFF
await q(`CREATE MACRO spread2(x) AS (x | (x << 8)) & 71777214294589695::UBIGINT`);		// 0x00FF00FF00FF00FF
await q(`CREATE MACRO spread3(x) AS (x | (x << 4)) & 1085102592571150095::UBIGINT`);	// 0x0F0F0F0F0F0F0F0F
await q(`CREATE MACRO spread4(x) AS (x | (x << 2)) & 3689348814741910323::UBIGINT`);	// 0x3333333333333333
await q(`CREATE MACRO spread5(x) AS (x | (x << 1)) & 6148914691236517205::UBIGINT`);	// 0x5555555555555555
await q(`CREATE MACRO spread(x) AS spread5(spread4(spread3(spread2(spread1(x::UBIGINT)))))`);
// lat in [-90, 90], lon in [-180, 180] scaled to [0, 2^32 - 1]
await q(`CREATE MACRO morton(lat, lon) AS
	spread(least(floor((lat + 90) / 180 * 4294967296), 4294967295)::UBIGINT) << 1
	| spread(least(floor((lon + 180) / 360 * 4294967296), 4294967295)::UBIGINT)`);

const order = { sort: "ORDER BY user_id, ts", morton: "ORDER BY morton(lat, lon)", size: "ORDER BY id" }[mode];
const file = join(outdir, `duckdb_${mode}.parquet`);
for (let run = 1; run <= runs; run++) {
	rmSync(file, { force: true });
	const t0 = process.hrtime.bigint();
	await q(`COPY (SELECT * FROM ev ${order}) TO ${lit(file)} (FORMAT parquet, COMPRESSION zstd)`);
	const s = Number(process.hrtime.bigint() - t0) / 1e9;
	console.log(`duckdb: mode=${mode} rows=${rows} run=${run} seconds=${s.toFixed(4)} bytes=${statSync(file).size}`);
}
if (mode === "morton") {
	// sanity: the written file is in key order, and the 1% box of ../shared/bench
	const ok = await one(`SELECT bool_and(k >= pk) FROM (SELECT k, lag(k, 1, 0::UBIGINT) OVER (ORDER BY rn) pk
		FROM (SELECT morton(lat, lon) k, row_number() OVER () rn FROM read_parquet(${lit(file)})))`);
	const box = await one(`SELECT count(*) FROM read_parquet(${lit(file)}) WHERE lat BETWEEN 10 AND 28 AND lon BETWEEN 20 AND 56`);
	console.log(`duckdb: mode=morton check sorted=${ok} box_rows=${box}`);
}
rmSync(file, { force: true });
con.closeSync();
db.closeSync();

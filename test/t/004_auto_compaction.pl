# Automatic compaction: the launcher, its workers and the jobs view.
#
# A commit that crosses a table's threshold queues a job at once, whatever
# compact.naptime says; the job runs in a background worker and shows in
# compact.compaction_jobs.  auto_compact (table) and compact.auto_compact
# (cluster) switch it off.  Jobs run in every database, including one
# created after start-up.  A worker killed with kill -9 leaves the table
# intact, its job failed, and a retry finishes the work; history survives a
# restart; cancel_job stops a running job, and only the table's owner may
# call it.  A job gives way to a session that needs its table lock, and to
# DROP DATABASE.  Inserts go on while a big background compaction runs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('auto');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'compact'
compact.naptime = '60s'
compact.cost_delay = 0
max_worker_processes = 16
restart_after_crash = on
autovacuum = off
});
$node->start;

sub wait_for
{
	my ($db, $query, $what) = @_;
	$node->poll_query_until($db, $query) or die "timed out waiting for $what";
}

# five small inserts with compact_threshold_files = 5 -----------------------
$node->safe_psql('postgres', q{
	CREATE EXTENSION compact;
	CREATE TABLE t (id int, v text) USING compact WITH (compact_threshold_files = 5);
	CREATE TABLE off_t (id int, v text) USING compact
		WITH (compact_threshold_files = 5, auto_compact = false);
	CREATE TABLE h (id int, v text);
});
my $inserts = join('', map {
	my $lo = $_ * 100 + 1;
	my $hi = $lo + 99;
	"INSERT INTO t SELECT g, md5(g::text) FROM generate_series($lo, $hi) g;\n"
	  . "INSERT INTO off_t SELECT g, md5(g::text) FROM generate_series($lo, $hi) g;\n"
	  . "INSERT INTO h SELECT g, md5(g::text) FROM generate_series($lo, $hi) g;\n"
} 0 .. 4);
my $committed = $node->safe_psql('postgres',
	$inserts . "SELECT extract(epoch FROM clock_timestamp());");

wait_for('postgres',
	"SELECT count(*) = 1 FROM compact.compaction_jobs WHERE \"table\" = 't'::regclass",
	'the job of t');
my $lag_ms = $node->safe_psql('postgres',
	"SELECT round(1000 * ($committed - extract(epoch FROM queued_at))) FROM compact.compaction_jobs WHERE \"table\" = 't'::regclass");
ok($lag_ms >= 0 && $lag_ms < 100,
	"job queued within 100 ms of the last commit (queued $lag_ms ms before the next statement)");

wait_for('postgres',
	"SELECT compaction_status = 'done' FROM compact.compaction_jobs WHERE \"table\" = 't'::regclass",
	'the job of t to finish');
is($node->safe_psql('postgres', q{
	SELECT trigger, strategy, fragments_in, fragments_out, rows_rewritten, progress, error IS NULL
	  FROM compact.compaction_jobs WHERE "table" = 't'::regclass}),
	'auto|merge|5|1|500|1.0000|t', 'the job merged the five fragments');
ok($node->safe_psql('postgres',
	"SELECT count(*) FROM compact.fragments WHERE relation = 't'::regclass") <= 2,
	'at most two fragments left');
is($node->safe_psql('postgres', '(TABLE t EXCEPT ALL TABLE h) UNION ALL (TABLE h EXCEPT ALL TABLE t)'),
	'', 't holds the same rows as its heap twin');
is($node->safe_psql('postgres',
	"SELECT compaction_status FROM compact.compaction_jobs WHERE \"table\" = 't'::regclass"),
	'done', 'the original query of the view works');

# auto_compact = false: never touched
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM compact.compaction_jobs WHERE "table" = 'off_t'::regclass}),
	'0', 'no job for a table with auto_compact = false');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM compact.fragments WHERE relation = 'off_t'::regclass"),
	'5', 'its five fragments are untouched');

# compact.auto_compact = off stops everything --------------------------------
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET compact.auto_compact = off;
	SELECT pg_reload_conf();
	CREATE TABLE t2 (id int) USING compact WITH (compact_threshold_files = 3);
});
sleep 1;
$node->safe_psql('postgres', "INSERT INTO t2 VALUES ($_)") for 1 .. 4;
sleep 2;
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM compact.compaction_jobs WHERE "table" = 't2'::regclass}),
	'0', 'compact.auto_compact = off: no job queued');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM compact.fragments WHERE relation = 't2'::regclass"),
	'4', 'compact.auto_compact = off: fragments untouched');

# on again, with a short naptime: the scan finds t2's debt
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET compact.auto_compact = on;
	ALTER SYSTEM SET compact.naptime = '1s';
	SELECT pg_reload_conf();
});
wait_for('postgres',
	"SELECT count(*) = 1 FROM compact.fragments WHERE relation = 't2'::regclass",
	'the scan to compact t2');
is($node->safe_psql('postgres', q{
	SELECT trigger, compaction_status FROM compact.compaction_jobs WHERE "table" = 't2'::regclass}),
	'auto|done', 'the periodic scan queued and ran the job of t2');

# a database created after start-up is served, jobs in two databases ---------
$node->safe_psql('postgres', 'CREATE DATABASE db2');
$node->safe_psql('db2', q{
	CREATE EXTENSION compact;
	CREATE TABLE t (id int) USING compact WITH (compact_threshold_files = 3);
});
$node->safe_psql('db2', "INSERT INTO t SELECT generate_series(1, 1000)") for 1 .. 3;
wait_for('db2',
	"SELECT compaction_status = 'done' FROM compact.compaction_jobs WHERE \"table\" = 't'::regclass",
	'the job in db2');
is($node->safe_psql('db2', 'SELECT count(*), sum(id) FROM t'), '3000|1501500',
	'db2: rows intact after its job');
is($node->safe_psql('db2', 'SELECT database FROM compact.compaction_jobs'), 'db2',
	'db2 sees its own job');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM compact.compaction_jobs WHERE database = 'postgres'"),
	'2', 'postgres sees its two jobs');

# a slow job: cost-based delay at its strongest --------------------------------
# 100 row groups of 1000 rows, each read sleeps 200 ms: about 20 s
sub slow_table
{
	my ($name, $db) = @_;
	$db //= 'postgres';
	$node->safe_psql('postgres', q{
		ALTER SYSTEM SET compact.cost_delay = 100;
		ALTER SYSTEM SET compact.cost_limit = 1;
		SELECT pg_reload_conf();
	});
	$node->safe_psql($db,
		"CREATE TABLE $name (id int, v text) USING compact WITH (compact_threshold_files = 5)");
	sleep 1;
	$node->safe_psql($db,
		"SET compact.row_group_size = 1000; INSERT INTO $name SELECT g, md5(g::text) FROM generate_series($_ * 20000 + 1, $_ * 20000 + 20000) g")
	  for 0 .. 4;
	wait_for($db,
		"SELECT phase = 'rewriting' FROM compact.compaction_jobs WHERE \"table\" = '$name'::regclass AND compaction_status = 'running'",
		"the slow job of $name to run");
	return $node->safe_psql($db,
		"SELECT job_id || '|' || pid FROM compact.compaction_jobs WHERE \"table\" = '$name'::regclass AND compaction_status = 'running'");
}

# kill -9 of a worker mid-job
my ($job, $pid) = split /\|/, slow_table('k');
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET compact.cost_delay = 0;
	SELECT pg_reload_conf();
});
kill 'KILL', $pid;
$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT id), sum(id) FROM k'),
	'100000|100000|5000050000', 'killed job: every row once');
wait_for('postgres',
	"SELECT compaction_status = 'failed' FROM compact.compaction_jobs WHERE job_id = $job",
	'the killed job to be recorded as failed');
like($node->safe_psql('postgres', "SELECT error FROM compact.compaction_jobs WHERE job_id = $job"),
	qr/ended before the job finished/, 'with the reason');
wait_for('postgres',
	"SELECT count(*) = 1 FROM compact.compaction_jobs WHERE \"table\" = 'k'::regclass AND compaction_status = 'done' AND attempt = 2",
	'the retry to finish');
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT id), sum(id) FROM k'),
	'100000|100000|5000050000', 'after the retry: every row once');
ok($node->safe_psql('postgres', "SELECT count(*) FROM compact.fragments WHERE relation = 'k'::regclass") <= 2,
	'after the retry: compacted');

# history survives a restart
my $history = $node->safe_psql('postgres',
	'SELECT job_id, compaction_status FROM compact.compaction_jobs ORDER BY job_id');
$node->restart;
is($node->safe_psql('postgres',
	'SELECT job_id, compaction_status FROM compact.compaction_jobs ORDER BY job_id'),
	$history, 'the jobs view is the same after a restart');

# cancel_job: not by another role; by the owner it stops the job
($job, $pid) = split /\|/, slow_table('c');

# meanwhile, with the only worker busy, two more jobs wait in the queue;
# one table is dropped, the other truncated: their jobs vanish
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET compact.max_workers = 1;
	SELECT pg_reload_conf();
	CREATE TABLE d (id int) USING compact WITH (compact_threshold_files = 3);
	CREATE TABLE e (id int) USING compact WITH (compact_threshold_files = 3);
});
sleep 1;
$node->safe_psql('postgres', "INSERT INTO d VALUES ($_); INSERT INTO e VALUES ($_);") for 1 .. 3;
is($node->safe_psql('postgres', q{
	SELECT string_agg("table"::text || ':' || compaction_status, ',' ORDER BY "table"::text)
	  FROM compact.compaction_jobs WHERE "table" IN ('d'::regclass, 'e'::regclass)}),
	'd:queued,e:queued', 'two jobs wait for the busy worker');
my $waiting = $node->safe_psql('postgres', q{
	SELECT string_agg(job_id::text, ',') FROM compact.compaction_jobs
	 WHERE "table" IN ('d'::regclass, 'e'::regclass)});
$node->safe_psql('postgres', 'DROP TABLE d; TRUNCATE e;');
$node->safe_psql('postgres', 'CREATE ROLE bob LOGIN');
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET ROLE bob; SELECT compact.cancel_job($job)");
like($stderr, qr/permission denied to cancel compaction job $job/,
	'a non-owner cannot cancel the job');
is($node->safe_psql('postgres', "SELECT compaction_status FROM compact.compaction_jobs WHERE job_id = $job"),
	'running', 'the job still runs');
is($node->safe_psql('postgres', "SELECT compact.cancel_job($job)"), 't', 'the owner cancels it');
wait_for('postgres',
	"SELECT compaction_status = 'cancelled' FROM compact.compaction_jobs WHERE job_id = $job",
	'the job to stop');
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT id), sum(id) FROM c'),
	'100000|100000|5000050000', 'cancelled job: every row once');
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET compact.cost_delay = 0;
	ALTER SYSTEM RESET compact.max_workers;
	SELECT pg_reload_conf();
});
wait_for('postgres',
	"SELECT count(*) = 0 FROM compact.compaction_jobs WHERE job_id IN ($waiting)",
	'the jobs of the dropped and the truncated table to vanish');
is($node->safe_psql('postgres', "SELECT count(*) FROM compact.fragments WHERE relation = 'e'::regclass"),
	'0', 'the truncated table was left alone');

# a session holds a row lock, the job waits for it at its commit, then the
# session needs the table lock the job holds (CREATE INDEX): like autovacuum
# the job gives way after deadlock_timeout; the session sees no deadlock
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET deadlock_timeout = '100ms';
	SELECT pg_reload_conf();
	CREATE TABLE y (id int, k int) USING compact WITH (compact_threshold_files = 5);
	INSERT INTO y SELECT g, g % 10 FROM generate_series(1, 10) g;
});
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe('DELETE FROM y WHERE id = 1');
$node->safe_psql('postgres',
	"INSERT INTO y SELECT g, g % 10 FROM generate_series($_ * 10 + 1, $_ * 10 + 10) g")
  for 1 .. 4;
wait_for('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	 WHERE backend_type = 'compact worker' AND wait_event = 'advisory'},
	'the job to wait for the row lock at its commit');
my $yjob = $node->safe_psql('postgres',
	"SELECT job_id FROM compact.compaction_jobs WHERE \"table\" = 'y'::regclass AND compaction_status = 'running'");
my (undef, $failed) = $holder->query('CREATE INDEX y_k ON y (k)');
is($failed, 0, 'the session takes the table lock without a deadlock');
$holder->query_safe('COMMIT');
$holder->quit;
wait_for('postgres',
	"SELECT compaction_status = 'cancelled' FROM compact.compaction_jobs WHERE job_id = $yjob",
	'the job that gave way to be recorded');
like($node->safe_psql('postgres', "SELECT error FROM compact.compaction_jobs WHERE job_id = $yjob"),
	qr/gave way: another session needed a lock the job held/, 'with the reason');
$node->safe_psql('postgres', 'INSERT INTO y VALUES (51, 1)');
wait_for('postgres',
	"SELECT count(*) = 1 FROM compact.compaction_jobs WHERE \"table\" = 'y'::regclass AND compaction_status = 'done'",
	'the next commit to queue the job again and the job to finish');
is($node->safe_psql('postgres',
	'SET enable_seqscan = off; SELECT count(*), sum(id) FROM y WHERE k >= 0'),
	'50|1325', 'every row once, and the index answers');
ok($node->safe_psql('postgres', "SELECT count(*) FROM compact.fragments WHERE relation = 'y'::regclass") <= 2,
	'compacted');
$node->safe_psql('postgres', q{
	ALTER SYSTEM RESET deadlock_timeout;
	SELECT pg_reload_conf();
});

# DROP DATABASE while one of its jobs runs: the job's worker is terminated,
# as autovacuum's would be, instead of DROP DATABASE failing
$node->safe_psql('postgres', 'CREATE DATABASE dropme');
$node->safe_psql('dropme', 'CREATE EXTENSION compact');
slow_table('s', 'dropme');
($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP DATABASE dropme');
is($ret, 0, 'DROP DATABASE succeeds while a job of the database runs');
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET compact.cost_delay = 0;
	SELECT pg_reload_conf();
});

# inserts go on while a compaction of 3M rows runs ---------------------------
$node->safe_psql('postgres', q{
	CREATE TABLE big (id int, v text) USING compact
		WITH (compact_threshold_files = 3, compact_order_by = 'v', auto_compact = false);
});
$node->safe_psql('postgres',
	"INSERT INTO big SELECT g, md5(g::text) FROM generate_series($_ * 1000000 + 1, $_ * 1000000 + 1000000) g")
  for 0 .. 2;
$node->safe_psql('postgres', q{ALTER TABLE big SET (auto_compact = true)});
# a fourth insert commits: the job is queued
$node->safe_psql('postgres', "INSERT INTO big VALUES (0, 'zero')");
wait_for('postgres',
	"SELECT compaction_status = 'running' FROM compact.compaction_jobs WHERE \"table\" = 'big'::regclass",
	'the big job to start');
my $slowest = 0;
my $overlapped = 0;
for my $i (1 .. 20)
{
	my $start = time;
	$node->safe_psql('postgres', "INSERT INTO big VALUES (-$i, 'during')");
	my $took = time - $start;
	$slowest = $took if $took > $slowest;
	$overlapped++ if $node->safe_psql('postgres',
		"SELECT compaction_status FROM compact.compaction_jobs WHERE \"table\" = 'big'::regclass ORDER BY job_id LIMIT 1") eq 'running';
}
ok($slowest < 1.0, sprintf('single-row inserts during the compaction: slowest %.3f s', $slowest));
note("$overlapped of 20 inserts ran while the job was running");
wait_for('postgres',
	"SELECT bool_and(compaction_status = 'done') FROM compact.compaction_jobs WHERE \"table\" = 'big'::regclass",
	'the big job to finish');
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT id), sum(id) FROM big'),
	'3000021|3000021|4500001499790', 'nothing lost: 3M rows plus the 21 inserted');

$node->stop;
done_testing();

# Parallel COPY (COPY FROM a server file into a compact table, parsed by the
# leader and parallel workers, each writing its own fragments) is as crash
# safe as PostgreSQL's: an immediate shutdown after it commits keeps every
# row once; one while its workers are loading keeps none of its rows, and
# VACUUM removes the files they wrote; a worker terminated mid-load fails
# the COPY, not the server.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('pcopy');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'compact'
compact.auto_compact = off
autovacuum = off
max_worker_processes = 16
compact.max_parallel_copy_workers = 2
compact.min_parallel_copy_size = '1MB'
compact.write_buffer_size = '1MB'
});
$node->start;
my $data = $node->data_dir;

# A domain whose CHECK (parallel safe, so the workers run it) sleeps at
# one value: a load that stays in progress, in a worker, until the test is
# done with it.  The second file's shares are about 300001-400000 (the
# leader), 400001-500000 and 500001-600000 (the workers).
$node->safe_psql('postgres', qq{
	CREATE EXTENSION compact;
	CREATE FUNCTION wait_at(v int) RETURNS bool LANGUAGE plpgsql PARALLEL SAFE AS
	\$\$ BEGIN IF v = 450000 THEN PERFORM pg_sleep(3600); END IF; RETURN true; END \$\$;
	CREATE DOMAIN waiting_int AS int CHECK (wait_at(VALUE));
	CREATE TABLE t (id waiting_int, payload text, amount numeric) USING compact;
	CREATE TABLE h (id int, payload text, amount numeric);
	COPY (SELECT g, md5(g::text), g / 100.0 FROM generate_series(1, 300000) g)
		TO '$data/first.csv' (FORMAT csv);
	COPY (SELECT g, md5(g::text), g / 100.0 FROM generate_series(300001, 600000) g)
		TO '$data/second.csv' (FORMAT csv);
});

my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $relnode = $node->safe_psql('postgres', "SELECT pg_relation_filenode('t')");

sub count_files
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_ls_dir('pg_compact/$dboid/$relnode', true, false) f WHERE f LIKE '%.frag'");
}

sub manifest_files
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM compact.manifest WHERE relfilenode = $relnode");
}

sub same_as_twin
{
	return $node->safe_psql('postgres', q{
		SELECT count(*) FROM ((SELECT id::int, payload, amount FROM t EXCEPT ALL TABLE h)
							  UNION ALL (TABLE h EXCEPT ALL SELECT id::int, payload, amount FROM t)) d});
}

# wait until a worker sleeps at 450000 and the load has written fragments
sub wait_for_sleeping_worker
{
	my ($files_before) = @_;
	$node->poll_query_until('postgres', qq{
		SELECT (SELECT count(*) FROM pg_stat_activity
				 WHERE backend_type = 'parallel worker' AND wait_event = 'PgSleep') = 1
		   AND (SELECT count(*) FROM pg_ls_dir('pg_compact/$dboid/$relnode', true, false) f
				 WHERE f LIKE '%.frag') > $files_before})
	  or die 'no parallel COPY worker reached the sleeping value';
}

# a committed parallel COPY survives an immediate shutdown, every row once
$node->safe_psql('postgres', "COPY t FROM '$data/first.csv' (FORMAT csv)");
$node->safe_psql('postgres', "COPY h FROM '$data/first.csv' (FORMAT csv)");
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT id), sum(id) FROM t'),
	'300000|300000|45000150000', 'committed rows of a parallel COPY survive an immediate shutdown, once each');
is(same_as_twin(), '0', 'the rows equal the heap twin\'s');
is(count_files(), manifest_files(), 'every file is listed in the manifest');

# an immediate shutdown while the workers load, in an open transaction
my $files_before = count_files();
my $bg = $node->background_psql('postgres');
$bg->query_until(qr/started/, qq{
	\\echo started
	BEGIN;
	COPY t FROM '$data/second.csv' (FORMAT csv);
});
wait_for_sleeping_worker($files_before);
$node->stop('immediate');
eval { $bg->quit; };
$node->start;

is($node->safe_psql('postgres', 'SELECT count(*), max(id) FROM t'),
	'300000|300000', 'no row of the interrupted parallel COPY is visible');
is(same_as_twin(), '0', 'the committed rows are intact');
ok(count_files() > manifest_files(), 'the crash left the workers\' files behind');
$node->safe_psql('postgres', 'VACUUM t');
is(count_files(), manifest_files(), 'VACUUM removes the files of the interrupted COPY');

# a worker terminated mid-load: the COPY fails, the server stays up
$files_before = count_files();
my ($stdout, $stderr) = ('', '');
my $copy = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'),
	  '-c', "COPY t FROM '$data/second.csv' (FORMAT csv)" ],
	'>', \$stdout, '2>', \$stderr);
wait_for_sleeping_worker($files_before);

# meanwhile pg_stat_progress_copy shows the whole COPY in one row: the
# leader's share and the second worker's are done (100,000 rows each), the
# sleeping worker has reported 49,152 of its rows (every 8,192)
my $size = -s "$data/second.csv";
ok($node->poll_query_until('postgres', q{
	SELECT tuples_processed >= 249152 FROM pg_stat_progress_copy WHERE relid = 't'::regclass}),
	'pg_stat_progress_copy counts the rows of every process');
is($node->safe_psql('postgres', q{
	SELECT count(*), min(type), min(command), min(bytes_total),
		   min(bytes_processed) >= min(bytes_total) / 3 * 2, min(bytes_processed) < min(bytes_total),
		   min(tuples_processed) < 300000
	  FROM pg_stat_progress_copy}),
	"1|FILE|COPY FROM|$size|t|t|t", 'one row for the COPY, with the file\'s size and the bytes read so far');

$node->safe_psql('postgres', q{
	SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	 WHERE backend_type = 'parallel worker' AND wait_event = 'PgSleep'});
$copy->finish;
isnt($copy->result(0), 0, 'the COPY fails');
like($stderr, qr/terminating background worker "parallel worker" due to administrator command/,
	'with the worker\'s error');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '300000',
	'the server is up, without the failed COPY\'s rows');
is(same_as_twin(), '0', 'the committed rows are intact');
$node->safe_psql('postgres', 'VACUUM t');
is(count_files(), manifest_files(), 'VACUUM removes the files of the failed COPY');

# and a parallel COPY of the same file then commits
$node->safe_psql('postgres', q{
	CREATE OR REPLACE FUNCTION wait_at(v int) RETURNS bool LANGUAGE plpgsql PARALLEL SAFE AS
	$$ BEGIN RETURN true; END $$});
$node->safe_psql('postgres', "COPY t FROM '$data/second.csv' (FORMAT csv)");
$node->safe_psql('postgres', "COPY h FROM '$data/second.csv' (FORMAT csv)");
is(same_as_twin(), '0', 'a parallel COPY after the failures loads the same rows as heap');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '600000', 'all rows there');

unlink("$data/first.csv", "$data/second.csv");
$node->stop;
done_testing();

# Fragment files in WAL: a streaming standby follows the primary through
# inserts, deletes, every compaction form, VACUUM, TRUNCATE, DROP and
# CREATE DATABASE ... TEMPLATE and returns the same rows; promoted, it keeps
# working.  Point-in-time recovery from a base backup and archived WAL stops
# at a restore point with exactly the rows committed by then.  A fragment
# file written after the last checkpoint and damaged before a crash restart
# is rebuilt by replay.  A standby without the library refuses to start.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1, has_archiving => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'compact'
compact.auto_compact = off
autovacuum = off
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION compact;
	CREATE TABLE t (id int, k int, v text) USING compact
		WITH (compact_min_file_size_mb = 16, compact_target_file_size_mb = 32);
	CREATE INDEX t_k ON t (k);
	INSERT INTO t SELECT g, g % 97, md5(g::text) FROM generate_series(1, 20000) g;
});
$primary->backup('base');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# every kind of change, each a WAL record or several
for my $i (1 .. 4)
{
	my $lo = 20000 + ($i - 1) * 5000 + 1;
	my $hi = $lo + 4999;
	$primary->safe_psql('postgres',
		"INSERT INTO t SELECT g, g % 97, md5(g::text) FROM generate_series($lo, $hi) g");
}
$primary->safe_psql('postgres', q{
	DELETE FROM t WHERE id % 7 = 0;
	UPDATE t SET v = 'updated' WHERE id % 11 = 0;
	VACUUM (COMPACT) t;
	VACUUM (COMPACT, ORDER_BY 'k, id') t;
	VACUUM (COMPACT, Z_ORDER_BY 'k, id') t;
	VACUUM (COMPACT, HILBERT_BY 'k, id') t;
	SELECT * FROM compact.compact_table('t', order_by => 'id');
	SELECT * FROM compact.execute('COMPACT TABLE t ORDER BY (v)');
	DELETE FROM t WHERE id % 5 = 0;
	VACUUM t;
	VACUUM FULL t;
	VACUUM t;
	CREATE TABLE gone (id int) USING compact;
	INSERT INTO gone SELECT generate_series(1, 1000);
	CREATE TABLE trunc (id int) USING compact;
	INSERT INTO trunc SELECT generate_series(1, 1000);
	TRUNCATE trunc;
	INSERT INTO trunc SELECT generate_series(1, 10);
});
$primary->safe_psql('postgres', 'DROP TABLE gone');
$primary->safe_psql('postgres', 'CREATE DATABASE tmpl');
$primary->safe_psql('tmpl', q{
	CREATE EXTENSION compact;
	CREATE TABLE tt (id int, v text) USING compact;
	INSERT INTO tt SELECT g, md5(g::text) FROM generate_series(1, 3000) g;
	DELETE FROM tt WHERE id % 3 = 0;
});
$primary->safe_psql('postgres', 'CREATE DATABASE copy TEMPLATE tmpl');

# fragments of several MB written by the parallel writer, WAL-logged in
# 1 MB chunks by both processes (in any order), every other row group
# encoded by the backend: the standby replays the same bytes
$primary->safe_psql('postgres', q{
	CREATE TABLE pw (id int, k int, v text) USING compact
		WITH (compact_deleted_ratio = 0.2, auto_compact = false);
	INSERT INTO pw SELECT g, g % 1000, md5(g::text) || md5((g * 3)::text)
	  FROM generate_series(1, 150000) g;
	INSERT INTO pw SELECT g, g % 1000, md5(g::text) || md5((g * 3)::text)
	  FROM generate_series(150001, 300000) g;
});
my ($pw_rc, $pw_out, $pw_err) = $primary->psql('postgres', q{
	SET compact.min_parallel_compaction_size = 0;
	SET compact.debug_leader_encodes = alternate;
	SET client_min_messages = debug1;
	VACUUM (COMPACT, ORDER_BY 'k, id') pw;
	DELETE FROM pw WHERE id % 4 = 0;
	VACUUM pw;
});
is($pw_rc, 0, 'parallel compactions on the primary');
my $pw_workers = () = $pw_err =~ /written by a parallel worker/g;
is($pw_workers, 2, 'the sort and the deletion rewrite were written by a parallel worker');
my $pw_files = q{SELECT count(*) || ' ' || md5(string_agg(f || ':' || md5(pg_read_binary_file(d || '/' || f)), ',' ORDER BY f))
	FROM (SELECT format('pg_compact/%s/%s', (SELECT oid FROM pg_database WHERE datname = current_database()),
						pg_relation_filenode('pw')) AS d) s, LATERAL pg_ls_dir(d) f};
my $pw_check = q{SELECT count(*), sum(id), md5(string_agg(id || v, ',' ORDER BY id)) FROM pw};
ok($primary->safe_psql('postgres',
	"SELECT max(bytes) > 4 * 1024 * 1024 FROM compact.fragments WHERE relation = 'pw'::regclass") eq 't',
	'the parallel writer wrote a fragment of several WAL chunks');

my $check = q{SELECT count(*), sum(id), md5(string_agg(id || v, ',' ORDER BY id)) FROM t};
my $expect = $primary->safe_psql('postgres', $check);
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

is($standby->safe_psql('postgres', $check), $expect, 'standby: same rows as the primary');
is($standby->safe_psql('postgres',
	"SET enable_seqscan = off; SET compact.enable_custom_scan = off; SELECT count(*), sum(id) FROM t WHERE k = 42"),
	$primary->safe_psql('postgres', "SELECT count(*), sum(id) FROM t WHERE k = 42"),
	'standby: same index scan answer');
is($standby->safe_psql('postgres', 'SELECT count(*), sum(id) FROM trunc'), '10|55',
	'standby: truncated table');
is($standby->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'gone'"), '0',
	'standby: dropped table gone');
is($standby->safe_psql('copy', 'SELECT count(*), sum(id) FROM tt'),
	$primary->safe_psql('copy', 'SELECT count(*), sum(id) FROM tt'),
	'standby: database copied from a template');

is($standby->safe_psql('postgres', $pw_check), $primary->safe_psql('postgres', $pw_check),
	'standby: the rows of the parallel compactions');
is($standby->safe_psql('postgres', $pw_files), $primary->safe_psql('postgres', $pw_files),
	'standby: the parallel writer\'s files, byte for byte');

# the same files on both sides
my $files = q{SELECT string_agg(f, ',' ORDER BY f) FROM pg_ls_dir('pg_compact', false, false) d,
	LATERAL pg_ls_dir('pg_compact/' || d, false, false) r,
	LATERAL pg_ls_dir('pg_compact/' || d || '/' || r, false, false) f};
is($standby->safe_psql('postgres', $files), $primary->safe_psql('postgres', $files),
	'standby: the same fragment files as the primary');

# PITR target: a restore point, then more changes
$primary->safe_psql('postgres', "SELECT pg_create_restore_point('before_purge')");
my $at_point = $expect;
$primary->safe_psql('postgres', q{
	DELETE FROM t WHERE id < 10000;
	VACUUM (COMPACT) t;
	VACUUM t;
	INSERT INTO t SELECT g, 0, 'late' FROM generate_series(100001, 100100) g;
});
my $last_wal = $primary->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql('postgres', $check), $primary->safe_psql('postgres', $check),
	'standby: follows the purge');

# promoted, the standby keeps working
$standby->promote;
$standby->safe_psql('postgres', q{
	INSERT INTO t SELECT g, 1, 'after promotion' FROM generate_series(200001, 201000) g;
	VACUUM (COMPACT) t;
	VACUUM t;
});
is($standby->safe_psql('postgres', "SELECT count(*) FROM t WHERE v = 'after promotion'"), '1000',
	'promoted standby: inserts and compacts');

# point-in-time recovery to the restore point
$primary->poll_query_until('postgres',
	"SELECT last_archived_wal >= '$last_wal' FROM pg_stat_archiver")
  or die 'WAL was not archived';
my $pitr = PostgreSQL::Test::Cluster->new('pitr');
$pitr->init_from_backup($primary, 'base', has_restoring => 1);
$pitr->append_conf('postgresql.conf', qq{
recovery_target_name = 'before_purge'
recovery_target_action = 'promote'
});
$pitr->start;
$pitr->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'PITR did not finish';
is($pitr->safe_psql('postgres', $check), $at_point,
	'point-in-time recovery: exactly the rows at the restore point');

# a file written after the last checkpoint, damaged before a crash restart
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->safe_psql('postgres',
	"INSERT INTO t SELECT g, 2, md5(g::text) FROM generate_series(300001, 310000) g");
my $expect_crash = $primary->safe_psql('postgres', $check);
my ($newest) = $primary->safe_psql('postgres', q{
	SELECT 'pg_compact/' || (SELECT oid FROM pg_database WHERE datname = 'postgres') || '/'
		   || (SELECT relfilenode FROM pg_class WHERE relname = 't') || '/' || f
	  FROM pg_ls_dir('pg_compact/' || (SELECT oid FROM pg_database WHERE datname = 'postgres') || '/'
		   || (SELECT relfilenode FROM pg_class WHERE relname = 't')) f
	 WHERE f LIKE '%.frag' ORDER BY split_part(f, '-', 1)::bigint DESC LIMIT 1});
my $path = $primary->data_dir . '/' . $newest;
ok(-s $path, "the new fragment file exists ($newest)");
$primary->stop('immediate');
truncate($path, 100) or die "truncate $path: $!";
$primary->start;
is($primary->safe_psql('postgres', $check), $expect_crash,
	'crash recovery rebuilt the damaged fragment file');

# removed outright, too
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->safe_psql('postgres',
	"INSERT INTO t SELECT g, 3, md5(g::text) FROM generate_series(310001, 311000) g");
$expect_crash = $primary->safe_psql('postgres', $check);
($newest) = $primary->safe_psql('postgres', q{
	SELECT 'pg_compact/' || (SELECT oid FROM pg_database WHERE datname = 'postgres') || '/'
		   || (SELECT relfilenode FROM pg_class WHERE relname = 't') || '/' || f
	  FROM pg_ls_dir('pg_compact/' || (SELECT oid FROM pg_database WHERE datname = 'postgres') || '/'
		   || (SELECT relfilenode FROM pg_class WHERE relname = 't')) f
	 WHERE f LIKE '%.frag' ORDER BY split_part(f, '-', 1)::bigint DESC LIMIT 1});
$path = $primary->data_dir . '/' . $newest;
$primary->stop('immediate');
unlink($path) or die "unlink $path: $!";
$primary->start;
is($primary->safe_psql('postgres', $check), $expect_crash,
	'crash recovery rebuilt the removed fragment file');

# a standby without the library stops, saying what to do
my $bare = PostgreSQL::Test::Cluster->new('bare');
$bare->init_from_backup($primary, 'base', has_restoring => 1, standby => 1);
$bare->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
# started without waiting (not $bare->start): it may stop before or just
# after it accepts connections, and the harness bails out on the latter
PostgreSQL::Test::Utils::system_log('pg_ctl', '-D', $bare->data_dir, '-l',
	$bare->logfile, '-W', 'start');
my $log = '';
for (1 .. 300)
{
	$log = -e $bare->logfile ? slurp_file($bare->logfile) : '';
	last if $log =~ /not registered/;
	usleep(100_000);
}
PostgreSQL::Test::Utils::run_log(
	[ 'pg_ctl', '-D', $bare->data_dir, '-m', 'immediate', 'stop' ]);
like($log, qr/resource manager with ID 141 not registered/,
	'a standby without compact stops at our first record');
like($log, qr/HINT:.*shared_preload_libraries/, 'with a hint to preload it');

done_testing();

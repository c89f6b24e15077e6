# Compaction and crashes: a server crash in the middle of a multi-group
# compaction keeps the groups that committed, loses and duplicates no row,
# and VACUUM then removes the half-written group's files; the table's
# compaction options survive pg_dump and pg_restore.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('compaction');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'compact'");
$node->append_conf('postgresql.conf', "compact.auto_compact = off");
$node->append_conf('postgresql.conf', "restart_after_crash = on");
# no autovacuum: its ANALYZE snapshots would hold back what VACUUM may remove
$node->append_conf('postgresql.conf', "autovacuum = off");
$node->start;

# twelve fragments of about 0.4 MB; groups of at most 1 MB: several groups
$node->safe_psql('postgres', q{
	CREATE EXTENSION compact;
	CREATE TABLE t (id int, payload text) USING compact
		WITH (compact_target_file_size_mb = 1, compact_min_file_size_mb = 4,
			  auto_compact = false);
	CREATE INDEX t_id ON t (id);
	CREATE TABLE h (id int, payload text);
});
for my $i (0 .. 11)
{
	my $lo = $i * 10000 + 1;
	my $hi = $lo + 9999;
	$node->safe_psql('postgres',
		"INSERT INTO t SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series($lo, $hi) g");
}
$node->safe_psql('postgres', 'DELETE FROM t WHERE id % 10 = 0');
$node->safe_psql('postgres', 'INSERT INTO h SELECT * FROM t');
my $expect = $node->safe_psql('postgres',
	'SELECT count(*), count(DISTINCT id), sum(id), md5(string_agg(payload, \',\' ORDER BY id)) FROM h');

my ($frags_before) = $node->safe_psql('postgres',
	"SELECT count(*) FROM compact.fragments WHERE relation = 't'::regclass");
is($frags_before, 12, 'twelve fragments before compaction');

my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $relnode = $node->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 't'");

# crash after two groups committed, with the third written
my ($stdout, $stderr);
$node->psql('postgres', q{
	SET compact.debug_crash_after_groups = 2;
	VACUUM (COMPACT, VERBOSE) t;
}, stdout => \$stdout, stderr => \$stderr);
like($stderr, qr/compacted \d+ fragments of "t"/, 'groups ran before the crash');
like($stderr, qr/server closed the connection unexpectedly|terminat/i,
	'the server crashed in the middle of the compaction');

$node->poll_query_until('postgres', 'SELECT true') or die 'server did not restart';

is($node->safe_psql('postgres',
	'SELECT count(*), count(DISTINCT id), sum(id), md5(string_agg(payload, \',\' ORDER BY id)) FROM t'),
	$expect, 'after the crash: every row once, none lost');
my $compacted = $node->safe_psql('postgres',
	"SELECT count(*) FROM compact.fragments WHERE relation = 't'::regclass AND operation = 'compact'");
cmp_ok($compacted, '>=', 2, 'the groups that committed are kept');
cmp_ok($node->safe_psql('postgres',
	"SELECT count(*) FROM compact.fragments WHERE relation = 't'::regclass"), '<', 12,
	'fewer fragments than before');
is($node->safe_psql('postgres',
	'SET enable_seqscan = off; SELECT count(*), sum(id) FROM t WHERE id BETWEEN 1 AND 120000'),
	$node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM h'),
	'the index agrees after the crash');

# VACUUM removes the crashed group's files and the replaced fragments
$node->safe_psql('postgres', 'VACUUM t');
my $files = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_ls_dir('pg_compact/$dboid/$relnode') f WHERE f LIKE '%.frag'");
my $live = $node->safe_psql('postgres',
	"SELECT count(*) FROM compact.fragments WHERE relation = 't'::regclass");
is($files, $live, 'no orphan fragment file after VACUUM');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_ls_dir('pg_compact/$dboid/$relnode') f WHERE f LIKE '%.map'"),
	'0', 'no row map left once no snapshot needs it');

# the job can be finished afterwards, and then there is nothing left to do
$node->safe_psql('postgres', 'VACUUM (COMPACT) t');
is($node->safe_psql('postgres',
	"SELECT rows_rewritten FROM compact.compact_table('t')"), '0',
	'a second compaction rewrites nothing');
is($node->safe_psql('postgres',
	'SELECT count(*), count(DISTINCT id), sum(id), md5(string_agg(payload, \',\' ORDER BY id)) FROM t'),
	$expect, 'rows unchanged after finishing the job');

# options and data survive pg_dump / pg_restore
my $dump = $node->basedir . '/t.dump';
$node->command_ok(['pg_dump', '-Fc', '-d', $node->connstr('postgres'), '-f', $dump],
	'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok(['pg_restore', '-d', $node->connstr('restored'), $dump], 'pg_restore');
is($node->safe_psql('restored',
	'SELECT count(*), count(DISTINCT id), sum(id), md5(string_agg(payload, \',\' ORDER BY id)) FROM t'),
	$expect, 'restored rows');
is($node->safe_psql('restored',
	"SELECT compact_target_file_size_mb, compact_min_file_size_mb, auto_compact FROM compact.table_options WHERE relation = 't'::regclass"),
	'1|4|f', 'restored options');

$node->stop;
done_testing();

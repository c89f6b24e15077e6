# Crash safety of compact tables: immediate shutdowns after commits and in
# the middle of a large insert lose no committed row, duplicate none, keep
# no uncommitted row, and VACUUM then removes the files the crash orphaned.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'compact'");
$node->append_conf('postgresql.conf', "compact.auto_compact = off");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION compact;
	CREATE TABLE t (id int, payload text) USING compact;
	CREATE INDEX t_id ON t (id);
});
for my $i (0 .. 4)
{
	my $lo = $i * 1000 + 1;
	my $hi = $lo + 999;
	$node->safe_psql('postgres',
		"INSERT INTO t SELECT g, md5(g::text) FROM generate_series($lo, $hi) g");
}
$node->safe_psql('postgres', 'DELETE FROM t WHERE id % 10 = 0');

my $dir = $node->data_dir . '/pg_compact';
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $relnode = $node->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 't'");
my $tabledir = "$dir/$dboid/$relnode";
ok(-d $tabledir, 'fragment directory lives under pg_compact');

sub count_files
{
	opendir(my $dh, $tabledir) or die "cannot open $tabledir: $!";
	my @f = grep { /\.frag$/ } readdir($dh);
	closedir($dh);
	return scalar @f;
}

# crash right after commits
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT id), sum(id) FROM t'),
	'4500|4500|11250000', 'committed rows survive an immediate shutdown, once each');

# crash in the middle of a large COPY that has already written fragments
my $files_before = count_files();
my $bg = $node->background_psql('postgres');
$bg->query_safe('SET compact.write_buffer_size = 1024');
$bg->query_until(qr/started/, q{
	\echo started
	BEGIN;
	COPY t (id) FROM PROGRAM 'seq 100001 20000000';
});
# wait until the open transaction has written at least two fragment files
$node->poll_query_until('postgres',
	"SELECT count(*) >= $files_before + 2 FROM pg_ls_dir('pg_compact/$dboid/$relnode') f WHERE f LIKE '%.frag'")
  or die 'the large COPY wrote no fragment';
$node->stop('immediate');
eval { $bg->quit; };
$node->start;

is($node->safe_psql('postgres', 'SELECT count(*), sum(id), max(id) FROM t'),
	'4500|11250000|4999', 'no row of the interrupted insert is visible');
ok(count_files() > $files_before, 'the crash left orphaned fragment files');
$node->safe_psql('postgres', 'VACUUM t');
is(count_files(), $node->safe_psql('postgres',
	"SELECT count(*) FROM compact.manifest WHERE relfilenode = $relnode"),
	'VACUUM removes the orphaned files');

# the table works normally afterwards
$node->safe_psql('postgres', "INSERT INTO t VALUES (-1, 'after')");
is($node->safe_psql('postgres', 'SET enable_seqscan = off; SELECT payload FROM t WHERE id = -1'),
	'after', 'inserts and index scans work after recovery');

# a flipped byte gives an error naming the file, and the server stays up
my $victim = (sort glob("$tabledir/*.frag"))[0];
my $size = -s $victim;
open(my $fh, '+<', $victim) or die $!;
binmode $fh;
seek($fh, int($size / 3), 0);
read($fh, my $byte, 1);
seek($fh, int($size / 3), 0);
print $fh chr(ord($byte) ^ 0xFF);
close($fh);
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*), sum(length(payload)) FROM t');
isnt($ret, 0, 'reading a damaged fragment fails');
like($err, qr/fragment file ".*\.frag" is corrupted/, 'the error names the damaged file');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');

# a damaged row map: a snapshot from before a sort compaction follows the
# map of a replaced fragment to delete a row's copy; a flipped byte in the
# map is an error naming it, and nothing changes
$node->safe_psql('postgres', q{
	CREATE TABLE m (id int) USING compact WITH (auto_compact = false);
	INSERT INTO m SELECT generate_series(1, 1000);
	INSERT INTO m SELECT generate_series(1001, 2000);
});
my $mnode = $node->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 'm'");
my $rr = $node->background_psql('postgres');
$rr->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
is($rr->query_safe('SELECT count(*) FROM m'), '2000', 'the old snapshot sees 2000 rows');
$node->safe_psql('postgres', "VACUUM (COMPACT, ORDER_BY 'id DESC') m");
my @maps = sort glob("$dir/$dboid/$mnode/*.map");
is(scalar @maps, 2, 'the sort left a row map for each replaced fragment');
for my $map (@maps)
{
	open(my $mh, '+<', $map) or die $!;
	binmode $mh;
	seek($mh, 100, 0);
	read($mh, my $b, 1);
	seek($mh, 100, 0);
	print $mh chr(ord($b) ^ 0x55);
	close($mh);
}
# (caught in the session: psql would end at an error)
$rr->query(q{DO $$
	BEGIN
		DELETE FROM m WHERE id = 500;
	EXCEPTION WHEN OTHERS THEN
		RAISE NOTICE 'caught % %', SQLSTATE, SQLERRM;
	END $$});
like($rr->{stderr}, qr/caught XX001 row map file ".*\.map" is corrupted: checksum mismatch/,
	'following a damaged row map fails with data_corrupted and names the file');
$rr->{stderr} = '';
$rr->query_safe('ROLLBACK');
$rr->quit;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM m'), '2000|2001000',
	'the table is unchanged');

$node->stop;
done_testing();

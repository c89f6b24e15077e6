# pg_upgrade with the steps README gives: the new cluster preloads compact,
# pg_upgrade runs, then the old $PGDATA/pg_compact/ is copied into the new
# data directory before the first start.  The upgraded cluster returns the
# same rows (sequential and index scans, two databases, deletions, a
# compacted and a clustered table, per-table options), and keeps working:
# inserts, deletes, compaction and VACUUM give what a heap twin gives.
# Without the copy, reads fail with an ERROR that names the missing file.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PostgreSQL::Test::RecursiveCopy;
use File::Path qw(rmtree);

my $conf = qq{
shared_preload_libraries = 'compact'
compact.auto_compact = off
autovacuum = off
};

my $old = PostgreSQL::Test::Cluster->new('old');
$old->init;
$old->append_conf('postgresql.conf', $conf);
$old->start;
$old->safe_psql('postgres', 'CREATE DATABASE other');
for my $db ('postgres', 'other')
{
	$old->safe_psql($db, q{
		CREATE EXTENSION compact;
		CREATE TABLE t (id int, k int, v text) USING compact
			WITH (compact_target_file_size_mb = 32, auto_compact = false);
		CREATE TABLE h (id int, k int, v text);
		CREATE INDEX t_k ON t (k);
		CREATE INDEX h_k ON h (k);
	});
	for my $i (0 .. 3)
	{
		my $lo = $i * 5000 + 1;
		my $hi = $lo + 4999;
		for my $tab ('t', 'h')
		{
			$old->safe_psql($db,
				"INSERT INTO $tab SELECT g, g % 101, md5(g::text) FROM generate_series($lo, $hi) g");
		}
	}
	$old->safe_psql($db, q{
		DELETE FROM t WHERE id % 7 = 0;
		DELETE FROM h WHERE id % 7 = 0;
		UPDATE t SET v = 'u' WHERE id % 11 = 0;
		UPDATE h SET v = 'u' WHERE id % 11 = 0;
		VACUUM (COMPACT, ORDER_BY 'k, id') t;
		DELETE FROM t WHERE id % 13 = 0;
		DELETE FROM h WHERE id % 13 = 0;
		CREATE TABLE small (id int) USING compact;
		INSERT INTO small SELECT generate_series(1, 10);
	});
}

my $contents = q{
	SELECT count(*) || ':' || sum(hashtext(ROW(id, k, v)::text)::bigint) FROM %s
};
my $indexed = q{
	SET enable_seqscan = off;
	SELECT count(*) || ':' || sum(id) FROM %s WHERE k BETWEEN 10 AND 20;
};

sub compare
{
	my ($node, $db, $what) = @_;

	my $heap = $node->safe_psql($db, sprintf($contents, 'h'));
	is($node->safe_psql($db, sprintf($contents, 't')), $heap,
		"$db: contents equal the heap twin $what");
	is($node->safe_psql($db, sprintf($indexed, 't')),
		$node->safe_psql($db, sprintf($indexed, 'h')),
		"$db: index scan equals the heap twin $what");
	return $heap;
}

my %before;
my %fragments;
my $frag_query = q{
	SELECT count(*) || ':' || sum(row_count) || ':' || sum(deleted_rows)
	FROM compact.fragments WHERE relation = 't'::regclass
};
for my $db ('postgres', 'other')
{
	$before{$db} = compare($old, $db, 'before the upgrade');
	$fragments{$db} = $old->safe_psql($db, $frag_query);
}
my $dboid = $old->safe_psql('postgres',
	q{SELECT oid FROM pg_database WHERE datname = 'postgres'});
$old->stop;

# README's steps
my $new = PostgreSQL::Test::Cluster->new('new');
$new->init;
$new->append_conf('postgresql.conf', $conf);
my $bindir = $new->config_data('--bindir');
my $upgrade_dir = PostgreSQL::Test::Utils::tempdir;
command_ok(
	[
		'pg_upgrade', '--no-sync',
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-b', $bindir, '-B', $bindir,
		'-s', $new->host, '-p', $old->port, '-P', $new->port
	],
	'pg_upgrade succeeds with compact tables');
ok(!-d $new->data_dir . "/pg_compact/$dboid",
	'pg_upgrade itself does not bring pg_compact/ along');

# forgetting the copy: an ERROR naming the file, not wrong rows or a crash
$new->start;
my ($ret, $out, $err) = $new->psql('postgres', 'SELECT count(*) FROM t');
isnt($ret, 0, 'reading before pg_compact/ is copied fails');
like($err, qr/ERROR:.*pg_compact\//, '... with an ERROR naming the missing file');
$new->stop;

rmtree($new->data_dir . '/pg_compact');
PostgreSQL::Test::RecursiveCopy::copypath($old->data_dir . '/pg_compact',
	$new->data_dir . '/pg_compact');
$new->start;

for my $db ('postgres', 'other')
{
	is(compare($new, $db, 'after the upgrade'), $before{$db},
		"$db: every row survives the upgrade");
	is($new->safe_psql($db, $frag_query), $fragments{$db},
		"$db: the same fragments and deletions");
	is($new->safe_psql($db, 'SELECT sum(id) FROM small'), '55',
		"$db: a small table survives");
}
like($new->safe_psql('postgres',
		q{SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 't'}),
	qr/compact_target_file_size_mb=32/, 'per-table options survive');

# and it keeps working
$new->safe_psql('postgres', q{
	INSERT INTO t SELECT g, g % 101, md5(g::text) FROM generate_series(20001, 25000) g;
	INSERT INTO h SELECT g, g % 101, md5(g::text) FROM generate_series(20001, 25000) g;
	DELETE FROM t WHERE id % 17 = 0;
	DELETE FROM h WHERE id % 17 = 0;
	VACUUM (COMPACT) t;
	VACUUM t;
	UPDATE t SET k = k + 1 WHERE id % 19 = 0;
	UPDATE h SET k = k + 1 WHERE id % 19 = 0;
	VACUUM (COMPACT, Z_ORDER_BY 'k, id') t;
});
compare($new, 'postgres', 'after writes and compactions on the new cluster');
is($new->safe_psql('postgres',
		q{SELECT count(*) FROM compact.fragments WHERE relation = 't'::regclass}),
	'1', 'the new cluster compacts the table into one fragment');

$new->stop;
done_testing();

# Fault injection: crash the server (PANIC) at every named fault point of a
# test build (-DCOMPACT_DEBUG, as "make check" builds) in turn: writing a
# fragment, committing, compacting a group, swapping fragments, removing
# files, dropping a table.  After each restart: every committed row exactly
# once (against a heap twin), no uncommitted row, reads without ERROR,
# nothing left on disk that VACUUM does not remove, and the next compaction
# succeeds, and after a crash inside a compaction group the group's
# shared work memory (compact.shared_work_mem) serves the next sort.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('faults');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'compact'
compact.auto_compact = off
autovacuum = off
restart_after_crash = on
compact.shared_work_mem = 16MB
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION compact');

my @points = split /\n/, $node->safe_psql('postgres', 'SELECT compact.debug_fault_points()');
plan skip_all => 'not a COMPACT_DEBUG build (make check builds one)' unless @points;
note('fault points: ' . join(', ', @points));

$node->safe_psql('postgres', q{
	CREATE TABLE t (id int, v text) USING compact
		WITH (compact_target_file_size_mb = 1, compact_min_file_size_mb = 4, auto_compact = false);
	CREATE INDEX t_id ON t (id);
	CREATE TABLE h (id int, v text);
	CREATE TABLE s (id int) USING compact WITH (auto_compact = false);
	INSERT INTO s SELECT generate_series(1, 5000);
	INSERT INTO s SELECT generate_series(5001, 10000);
});

my $next_id = 1;

# committed rows in t and its twin h
sub add_rows
{
	my ($n) = @_;
	my $lo = $next_id;
	my $hi = $lo + $n - 1;
	$next_id = $hi + 1;
	$node->safe_psql('postgres', qq{
		INSERT INTO t SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series($lo, $hi) g;
		INSERT INTO h SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series($lo, $hi) g;
	});
}

my %covered;
my $sorts = 0;

# run $sql with the fault point set; the server must crash there and restart
sub crash_at
{
	my ($point, $sql) = @_;
	my $log_pos = -s $node->logfile;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET compact.debug_fault_point = '$point';\n$sql");
	$node->poll_query_until('postgres', 'SELECT true')
	  or die "server did not come back after $point";
	my $log = slurp_file($node->logfile, $log_pos);
	if ($log =~ /compact fault point "\Q$point\E" reached/)
	{
		$covered{$point} = 1;
		pass("$point: crashed there");
	}
	else
	{
		fail("$point: crashed there");
		diag("psql: $err");
	}
}

# the checks after every crash
sub check_state
{
	my ($point) = @_;
	is($node->safe_psql('postgres',
		'SELECT count(*) FROM ((TABLE t EXCEPT ALL TABLE h) UNION ALL (TABLE h EXCEPT ALL TABLE t)) d'),
		'0', "$point: committed rows exactly once, nothing uncommitted");
	is($node->safe_psql('postgres',
		'SET enable_seqscan = off; SET compact.enable_custom_scan = off; SELECT count(*), sum(id) FROM t WHERE id BETWEEN 2000 AND 4000'),
		$node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM h WHERE id BETWEEN 2000 AND 4000'),
		"$point: the index finds the same rows");

	# VACUUM removes whatever the crash left
	$node->safe_psql('postgres', 'VACUUM t');
	$node->safe_psql('postgres', 'VACUUM');
	my $dir = $node->safe_psql('postgres', q{
		SELECT 'pg_compact/' || (SELECT oid FROM pg_database WHERE datname = current_database())});
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM pg_ls_dir('$dir') d
		 WHERE d::oid NOT IN (SELECT relfilenode FROM pg_class)}),
		'0', "$point: no directory without a relation");
	is($node->safe_psql('postgres', qq{
		SELECT string_agg(f, ',') FROM pg_ls_dir('$dir/' || (SELECT relfilenode FROM pg_class WHERE relname = 't')) f
		 WHERE f NOT LIKE '%.frag'
			OR split_part(f, '-', 1)::bigint NOT IN
			   (SELECT fragment_id FROM compact.fragments WHERE relation = 't'::regclass)}),
		'', "$point: no file the manifest does not list");

	# and the next compaction works
	$node->safe_psql('postgres', 'VACUUM (COMPACT) t');
	is($node->safe_psql('postgres',
		'SELECT count(*) FROM ((TABLE t EXCEPT ALL TABLE h) UNION ALL (TABLE h EXCEPT ALL TABLE t)) d'),
		'0', "$point: the next compaction keeps every row");

	# a crash inside a group that held the shared work memory: the next
	# sort (of s, alternately ascending and descending) sorts in it
	if ($point =~ /^compact_/)
	{
		my $order = $sorts++ % 2 ? 'id' : 'id DESC';
		my ($ret, $out, $err) = $node->psql('postgres', qq{
			SET maintenance_work_mem = '8MB';
			SET client_min_messages = debug1;
			SELECT rows_rewritten FROM compact.compact_table('s', order_by => '$order');});
		is($out, '10000', "$point: the next sort rewrites s");
		like($err, qr/sorting 10000 rows in \d+ passes over the sources, in the shared work memory/,
			"$point: the next sort finds the shared work memory free");
	}
}

add_rows(10000);

# a parallel COPY's source file, and its target (with an index: the COPY's
# backend inserts the entries of every process's rows)
my $pcfile = $node->data_dir . '/pc.csv';
$node->safe_psql('postgres', qq{
	CREATE TABLE pc (id int, v text) USING compact WITH (auto_compact = false);
	CREATE INDEX pc_id ON pc (id);
	COPY (SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 100000) g)
		TO '$pcfile' (FORMAT csv);
});

for my $point (@points)
{
	if ($point =~ /^(fragment_created|fragment_rowgroup_written|insert_fragment_finished|insert_fragment_logged|insert_before_commit)$/)
	{
		# an INSERT that never commits
		crash_at($point, "INSERT INTO t SELECT g, 'lost' FROM generate_series(-5000, -1) g;");
	}
	elsif ($point eq 'insert_after_commit')
	{
		# committed, then the crash: the twin gets the rows too
		crash_at($point, "INSERT INTO t SELECT g, 'kept' FROM generate_series(-5000, -1) g;");
		$node->safe_psql('postgres',
			"INSERT INTO h SELECT g, 'kept' FROM generate_series(-5000, -1) g");
	}
	elsif ($point =~ /^copy_/)
	{
		# a parallel COPY (the leader and two workers) that never commits
		crash_at($point, qq{
			SET compact.min_parallel_copy_size = '64kB';
			SET compact.write_buffer_size = '1MB';
			COPY pc FROM '$pcfile' (FORMAT csv);
		});
		is($node->safe_psql('postgres', 'SELECT count(*) FROM pc'), '0',
			"$point: no row of the parallel COPY");
		is($node->safe_psql('postgres',
			'SET enable_seqscan = off; SET compact.enable_custom_scan = off; SELECT count(*) FROM pc WHERE id > 0'),
			'0', "$point: nor through the index");
		$node->safe_psql('postgres', 'VACUUM pc');
		is($node->safe_psql('postgres', q{
			SELECT count(*) FROM pg_ls_dir('pg_compact/' ||
				(SELECT oid FROM pg_database WHERE datname = current_database()) || '/' ||
				pg_relation_filenode('pc'), true, false)}),
			'0', "$point: VACUUM removes the parallel COPY's files");
	}
	elsif ($point eq 'storage_dir_created')
	{
		# a new table's first fragment, in the creating transaction
		crash_at($point, "BEGIN; CREATE TABLE newt (id int) USING compact; INSERT INTO newt VALUES (1); COMMIT;");
		is($node->safe_psql('postgres', "SELECT to_regclass('newt') IS NULL"), 't',
			"$point: the table was never created");
	}
	elsif ($point =~ /^compact_/)
	{
		# several small fragments, some rows deleted: groups to compact,
		# written by the backend, then (after the checks) by a parallel
		# worker, the backend inserting the index entries meanwhile
		for my $parallel ('1TB', '0')
		{
			check_state("$point (the backend writing)") if $parallel eq '0';
			add_rows(6000) for 1 .. 6;
			$node->safe_psql('postgres', 'DELETE FROM t WHERE id % 13 = 0; DELETE FROM h WHERE id % 13 = 0;');
			crash_at($point, "SET compact.min_parallel_compaction_size = '$parallel'; VACUUM (COMPACT) t;");
		}
	}
	elsif ($point =~ /^vacuum_(indexes_cleaned|fragment_unlinked)$/)
	{
		# fragments replaced by a compaction: VACUUM removes them
		add_rows(5000) for 1 .. 3;
		$node->safe_psql('postgres', 'VACUUM (COMPACT) t');
		crash_at($point, 'VACUUM t;');
	}
	elsif ($point eq 'vacuum_orphan_unlinked')
	{
		# a file without a manifest row: its writer crashed after writing it
		# (files of rolled-back writers go with their dead manifest rows)
		$node->psql('postgres', q{
			SET compact.debug_fault_point = 'insert_fragment_finished';
			INSERT INTO t SELECT g, 'lost' FROM generate_series(-5000, -1) g;
		});
		$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
		crash_at($point, 'VACUUM t;');
	}
	elsif ($point eq 'drop_dir_removed')
	{
		$node->safe_psql('postgres', q{
			CREATE TABLE dropme (id int) USING compact;
			INSERT INTO dropme SELECT generate_series(1, 1000);
		});
		crash_at($point, 'DROP TABLE dropme;');
		is($node->safe_psql('postgres', "SELECT to_regclass('dropme') IS NULL"), 't',
			"$point: the table is gone");
	}
	else
	{
		fail("no scenario for fault point $point");
		next;
	}
	check_state($point);
}

is(join(',', sort grep { !$covered{$_} } @points), '', 'every fault point was reached');
note(scalar(keys %covered) . ' of ' . scalar(@points) . ' fault points crashed the server');

$node->stop;
done_testing();

# Randomized differential test: a seeded generator applies the same random
# workload to a compact table (c) and to its heap twin (h) and compares them
# after every step.
#
# Steps: single- and multi-row INSERT, INSERT ... SELECT generate_series,
# INSERT ... SELECT from the table itself, COPY FROM STDIN, COPY FROM a
# server file (parallel COPY where the table allows it), UPDATE and DELETE
# with random predicates (some with RETURNING, whose digests are compared),
# transactions that commit or roll back, with savepoints rolled back or
# released and checks inside the transaction, every compaction form (VACUUM
# (COMPACT ...) with ORDER_BY, Z_ORDER_BY, HILBERT_BY, FILTER, DRY_RUN;
# VACUUM (OPTIMIZE ...); compact.compact_table, compact.execute,
# compact.vacuum_table, compact.optimize_table), table options, VACUUM,
# VACUUM FULL, ANALYZE, CLUSTER, TRUNCATE, ADD COLUMN (with and without
# default), DROP COLUMN, ALTER COLUMN ... TYPE, CREATE / DROP INDEX, SET
# ACCESS METHOD heap and back, and session settings (row group size, write
# buffer size, compression level, maintenance_work_mem).  The heap twin
# skips compaction (or runs a plain VACUUM).
#
# Checks after every step: the full contents (text of every row, current
# column list) through CompactScan or the plain scan, the fragments' row
# counts against count(*), one random CompactScan query (pruning on or off,
# sometimes parallel) and, when an index exists, an index-scan range query,
# each compared with the heap's answer.  The last part of the run has
# automatic compaction on (compact.naptime = 1s, low thresholds), so
# background workers compact c while the workload runs.
#
# Deterministic given the seed: COMPACT_DIFF_SEED (default below) and
# COMPACT_DIFF_OPS (number of steps, default 2000); COMPACT_DIFF_MAX_ROWS
# (default 3000) bounds the table.  Replays run on a copy of the
# freshly initialized cluster, since some failures depend on its history.  On a divergence the
# test prints the seed, replays prefixes of the recorded steps on fresh
# tables to find the shortest failing prefix (bisection), then drops steps
# that are not needed for the failure (within COMPACT_DIFF_MINIMIZE_SECS,
# default 180), and prints the resulting SQL script (also written to
# tmp_check/diff_repro_<seed>.sql).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use File::Path;
use PostgreSQL::Test::RecursiveCopy;
use Time::HiRes qw(time);

my $seed = $ENV{COMPACT_DIFF_SEED} // 2;
my $nops = $ENV{COMPACT_DIFF_OPS} // 2000;
my $minimize_secs = $ENV{COMPACT_DIFF_MINIMIZE_SECS} // 180;
my $max_rows = $ENV{COMPACT_DIFF_MAX_ROWS} // 3000;
die "COMPACT_DIFF_SEED must be an integer\n" unless $seed =~ /^\d+$/;
die "COMPACT_DIFF_OPS must be an integer\n" unless $nops =~ /^\d+$/;
diag("compact differential test: COMPACT_DIFF_SEED=$seed COMPACT_DIFF_OPS=$nops");
srand($seed);

my $node = PostgreSQL::Test::Cluster->new('differential');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'compact'
compact.auto_compact = off
compact.naptime = '1s'
compact.cost_delay = 0
compact.foreground_yield = 0
compact.row_group_size = 1000
max_worker_processes = 16
autovacuum = off
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION compact');
# Replays start from a copy of this cluster: what a run does can depend on
# the cluster's history (transaction ids, OIDs, files), so a replay on the
# same cluster after the run need not repeat it.
my $pristine = $node->basedir . '/pristine';
$node->stop;
PostgreSQL::Test::RecursiveCopy::copypath($node->data_dir, $pristine);
$node->start;

sub fresh_cluster
{
	$node->stop('immediate');
	File::Path::rmtree($node->data_dir);
	PostgreSQL::Test::RecursiveCopy::copypath($pristine, $node->data_dir);
	chmod(0700, $node->data_dir);
	$node->start;
}

# ---------------------------------------------------------------------------
# A psql session fed through IPC::Run: one round trip per batch of SQL.
# ---------------------------------------------------------------------------
my $psql_bin = $node->installed_command('psql');

sub session_start
{
	my %s = (in => '', out => '', err => '', n => 0);
	$s{timer} = IPC::Run::timeout(600);
	$s{h} = IPC::Run::start(
		[ $psql_bin, '-XAtq', '-v', 'ON_ERROR_STOP=0', '-d',
		  $node->connstr('postgres'), '-f', '-' ],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err}, $s{timer});
	return \%s;
}

sub session_stop
{
	my ($s) = @_;
	eval {
		$s->{in} .= "\\q\n";
		$s->{timer}->start(60);
		$s->{h}->finish;
	};
	eval { $s->{h}->kill_kill } if $@;
}

# run SQL; returns (stdout, stderr, died)
sub session_run
{
	my ($s, $sql, $timeout) = @_;
	my $n = ++$s->{n};
	my $banner = "__compact_diff_done_${n}__";
	utf8::encode($sql);
	$s->{in} .= "$sql\n\\echo $banner\n\\warn $banner\n";
	$s->{timer}->start($timeout // 600);
	my $died = '';
	eval {
		until ($s->{out} =~ /$banner\n/ && $s->{err} =~ /$banner\n/)
		{
			next if eval { $s->{h}->pump; 1 };
			# IPC::Run gives up when psql's stdin pipe is full (EAGAIN)
			# instead of waiting: wait a moment and go on feeding it
			die $@ unless $@ =~ /Resource temporarily unavailable/;
			select(undef, undef, undef, 0.01);
		}
	};
	$died = $@ if $@;
	if ($died)
	{
		# psql is gone (a server crash ends it): drain what it printed
		$s->{in} = '';
		eval { $s->{timer}->start(30); $s->{h}->finish; };
	}
	my ($out, $err) = ($s->{out}, $s->{err});
	$s->{out} = $s->{err} = '';
	$out =~ s/$banner\n//;
	$err =~ s/$banner\n//;
	if ($died)
	{
		eval { $s->{h}->kill_kill };
		$s->{dead} = 1;
	}
	return ($out, $err, $died);
}

# ---------------------------------------------------------------------------
# Value, predicate and statement generators.  Everything random comes from
# Perl's rand() after srand($seed); the SQL holds only literals.
# ---------------------------------------------------------------------------
sub rnd { return int(rand($_[0])); }
sub pick { return $_[ rnd(scalar @_) ]; }
sub chance { return rand() < $_[0]; }

sub weighted
{
	my (%w) = @_;
	my $total = 0;
	$total += $_ for values %w;
	my $r = rand($total);
	for my $k (sort keys %w)
	{
		return $k if ($r -= $w{$k}) < 0;
	}
	return (sort keys %w)[-1];
}

my %kind = (
	int => 'int', bigint => 'int', smallint => 'int',
	float8 => 'float', float4 => 'float', numeric => 'numeric',
	text => 'text', 'varchar(20)' => 'text',
	timestamptz => 'ts', timestamp => 'ts', date => 'ts',
	bool => 'bool', bytea => 'other', jsonb => 'other',
	interval => 'other', uuid => 'other');
my @add_types = qw(int bigint smallint float8 float4 numeric text varchar(20)
  timestamptz timestamp date bool bytea jsonb interval uuid);
# ALTER COLUMN ... TYPE changes that keep every value
my %widen = (smallint => 'int', int => 'bigint', float4 => 'float8',
	date => 'timestamp', 'varchar(20)' => 'text', bigint => 'numeric');

my @words = qw(alpha beta gamma delta epsilon zeta eta theta iota kappa lambda
  mu nu xi omicron pi rho sigma tau upsilon);

sub rand_str
{
	my ($len, $alphabet) = @_;
	$alphabet //= 'abcdefghijklmnopqrstuvwxyz0123456789';
	return join('', map { substr($alphabet, rnd(length $alphabet), 1) } 1 .. $len);
}

sub fmt_time
{
	my ($type) = @_;
	my $epoch = 946684800 + rnd(946771200);    # 2000 .. 2030
	my @t = gmtime($epoch);
	my $d = sprintf('%04d-%02d-%02d', $t[5] + 1900, $t[4] + 1, $t[3]);
	return $d if $type eq 'date';
	my $usec = chance(0.5) ? 0 : rnd(1000000);
	my $s = sprintf('%s %02d:%02d:%02d', $d, $t[2], $t[1], $t[0]);
	$s .= sprintf('.%06d', $usec) if $usec;
	$s .= '+00' if $type eq 'timestamptz';
	return $s;
}

# a value of a type as its text (undef: NULL)
my $next_id = 1;
sub gen_raw
{
	my ($type, $nonnull) = @_;
	return undef if !$nonnull && chance(0.08);
	my $r = rand();
	if ($type eq 'int' || $type eq 'smallint' || $type eq 'bigint')
	{
		my ($min, $max) =
		    $type eq 'smallint' ? ('-32768', '32767')
		  : $type eq 'int' ? ('-2147483648', '2147483647')
		  : ('-9223372036854775808', '9223372036854775807');
		return rnd(100) if $r < 0.75;
		return -rnd(1000) if $r < 0.85;
		return pick($min, $max, 0) if $r < 0.9;
		return rnd($type eq 'smallint' ? 32767 : 2000000000);
	}
	if ($type eq 'float8' || $type eq 'float4')
	{
		return sprintf('%.2f', rand(1000) - 100) if $r < 0.45;
		return rnd(100) if $r < 0.6;
		return sprintf($type eq 'float8' ? '%.17g' : '%.9g',
			(rand() - 0.3) * 10**(rnd(30) - 15)) if $r < 0.85;
		return pick('NaN', 'Infinity', '-Infinity', '-0', '0',
			$type eq 'float8' ? ('1e308', '5e-324', '-1.7976931348623157e308')
			  : ('3.4e38', '1e-45'));
	}
	if ($type eq 'numeric')
	{
		return sprintf('%.' . rnd(5) . 'f', rand(2000) - 500) if $r < 0.6;
		return rnd(100) if $r < 0.7;
		return sprintf('%.2f0', rand(100)) if $r < 0.78;    # trailing zero
		return pick('NaN', 'Infinity', '-Infinity', '0.000', '-0.001',
			'123456789012345678901234567890.123456789',
			'-0.00000000000000000001', '1e20');
	}
	if ($type eq 'text' || $type eq 'varchar(20)')
	{
		my $max = $type eq 'text' ? 40 : 20;
		return pick(@words) if $r < 0.5;
		return 's' . rnd(30) if $r < 0.6;
		return rand_str(rnd($max + 1)) if $r < 0.85;
		return '' if $r < 0.88;
		return pick("tab\there", "new\nline", "back\\slash", "quo'te",
			"d\"q", "caf\x{e9}", "\x{65e5}\x{672c}", ' lead', 'trail ',
			'\N', 'NULL', ',;|')
		  if $r < 0.96 || $type ne 'text';
		return rand_str(500 + rnd(2500), 'ab') if chance(0.5);
		return rand_str(300 + rnd(1700));    # indexable: under 2704 bytes
	}
	if ($type eq 'timestamptz' || $type eq 'timestamp' || $type eq 'date')
	{
		return pick('infinity', '-infinity') if $r < 0.02;
		return fmt_time($type);
	}
	return pick('t', 'f') if $type eq 'bool';
	return '\\x' . join('', map { sprintf('%02x', rnd(256)) } 1 .. rnd(12))
	  if $type eq 'bytea';
	if ($type eq 'jsonb')
	{
		return pick('{"a": ' . rnd(100) . '}', '[1, 2, ' . rnd(10) . ']',
			'"' . pick(@words) . '"', 'null', '{"b": {"c": [true, null]}}');
	}
	return rnd(400) . ' days ' . rnd(86400) . ' seconds' if $type eq 'interval';
	if ($type eq 'uuid')
	{
		my $h = join('', map { sprintf('%02x', rnd(256)) } 1 .. 16);
		return join('-', substr($h, 0, 8), substr($h, 8, 4), substr($h, 12, 4),
			substr($h, 16, 4), substr($h, 20, 12));
	}
	die "no generator for type $type";
}

sub quote_lit
{
	my ($v) = @_;
	return 'NULL' unless defined $v;
	(my $q = $v) =~ s/'/''/g;
	return "'$q'";
}

sub copy_lit
{
	my ($v) = @_;
	return '\N' unless defined $v;
	(my $q = $v) =~ s/\\/\\\\/g;
	$q =~ s/\t/\\t/g;
	$q =~ s/\n/\\n/g;
	$q =~ s/\r/\\r/g;
	return $q;
}

# a typed non-NULL literal for comparisons
sub typed_lit
{
	my ($type) = @_;
	return quote_lit(gen_raw($type, 1)) . "::$type";
}

# --- the schema, as both tables have it --------------------------------------
my %schema;
sub reset_schema
{
	%schema = (
		cols => [
			{ name => 'id', type => 'int' },
			{ name => 'k', type => 'int' },
			{ name => 'ts', type => 'timestamptz' },
			{ name => 'f', type => 'float8' },
			{ name => 't', type => 'text' },
			{ name => 'n', type => 'numeric' },
		],
		indexes => [],    # { name => 'i3', cols => [...] }
		next_col => 1,
		next_index => 1,
		clustered => 0,   # compact_*_by table option set (on id / k)
	);
}
reset_schema();

sub clone_schema
{
	my %c = %schema;
	$c{cols} = [ map { {%$_} } @{ $schema{cols} } ];
	$c{indexes} = [ map { { name => $_->{name}, cols => [ @{ $_->{cols} } ] } }
		  @{ $schema{indexes} } ];
	return \%c;
}

sub colnames { return map { $_->{name} } @{ $schema{cols} }; }
sub col_list { return join(', ', colnames()); }
sub col_type
{
	my ($name) = @_;
	for (@{ $schema{cols} }) { return $_->{type} if $_->{name} eq $name; }
	die "no column $name";
}

# --- predicates ----------------------------------------------------------------
sub gen_atom
{
	my ($immutable) = @_;
	my $c = pick(@{ $schema{cols} });
	my ($n, $ty) = ($c->{name}, $c->{type});
	my $kd = $kind{$ty};
	return "$n IS NULL" if chance(0.07);
	return "$n IS NOT NULL" if chance(0.04);
	if ($kd eq 'int')
	{
		my $v = rnd(100);
		my $w = $v + rnd(40);
		return pick("$n < $v", "$n >= $v", "$n = $v", "$n <> $v",
			"$n BETWEEN $v AND $w", "$n IN ($v, " . rnd(100) . ', ' . rnd(100) . ')',
			"$n % 7 = " . rnd(7), "$n < $v.5", "$n = ${v}::bigint",
			"$n > ${v}::smallint", "$n <= " . typed_lit($ty), "($n > $w OR $n < $v)");
	}
	if ($kd eq 'float')
	{
		my $v = sprintf('%.1f', rand(300) - 50);
		my $w = $v + rnd(200);
		return pick("$n < $v", "$n > $v", "$n >= " . typed_lit($ty),
			"$n BETWEEN $v AND $w", "$n = 'NaN'::$ty", "$n < 0",
			"$n = 0", "$n > 'Infinity'::float8 - 1", "$n = " . rnd(100),
			"$n <= 1e300", "$n > ${v}::float4");
	}
	if ($kd eq 'numeric')
	{
		my $v = sprintf('%.2f', rand(1500) - 400);
		my $w = $v + rnd(300);
		return pick("$n < $v", "$n > $v", "$n BETWEEN $v AND $w",
			"$n = 'NaN'::numeric", "$n >= " . typed_lit($ty), "$n = " . rnd(100),
			"$n < 'Infinity'::numeric", "$n > ${v}::float8");
	}
	if ($kd eq 'text')
	{
		my $v = quote_lit(pick(@words, 's1', 'm', 'a', '', 'zz'));
		return pick("$n < $v", "$n >= $v", "$n = $v", "$n LIKE '"
			  . substr(pick(@words), 0, 1 + rnd(2)) . "%'",
			"$n >= $v COLLATE \"C\"", "length($n) > 10",
			"$n IN ('alpha', 'beta', " . quote_lit(pick(@words)) . ')',
			"$n BETWEEN $v AND " . quote_lit(pick(@words)), "$n > 's'");
	}
	if ($kd eq 'ts')
	{
		my $a = typed_lit($ty);
		my $b = typed_lit($ty);
		my @p = ("$n < $a", "$n >= $a", "$n BETWEEN $a AND $b",
			"$n = 'infinity'::$ty", "$n > '-infinity'::$ty");
		if (!$immutable)
		{
			# cross-type comparisons (stable)
			push @p, "$n < " . typed_lit('date') if $ty ne 'date';
			push @p, "$n >= " . typed_lit('timestamptz') if $ty ne 'timestamptz';
		}
		return pick(@p);
	}
	if ($kd eq 'bool')
	{
		return pick($n, "NOT $n", "$n IS TRUE", "$n IS NOT FALSE", "$n = false");
	}
	return pick("$n IS NULL", "$n IS NOT NULL", "$n = " . typed_lit($ty),
		"$n < " . typed_lit($ty));
}

sub gen_pred
{
	my ($immutable) = @_;
	my $r = rand();
	return gen_atom($immutable) if $r < 0.55;
	return gen_atom($immutable) . ' AND ' . gen_atom($immutable) if $r < 0.8;
	return '(' . gen_atom($immutable) . ' OR ' . gen_atom($immutable) . ')' if $r < 0.93;
	return 'NOT (' . gen_atom($immutable) . ')';
}

# --- statements ------------------------------------------------------------------
my $tag = 0;

# the same template for c and for h: %T table, %S side, %I index prefix
sub both
{
	my ($tmpl) = @_;
	my $out = '';
	for my $side ('c', 'h')
	{
		(my $s = $tmpl) =~ s/%T/$side/g;
		$s =~ s/%S/$side/g;
		$s =~ s/%I/${side}i/g;
		$out .= $s;
	}
	return $out;
}

sub row_values
{
	my ($cols) = @_;
	return [ map { $_ eq 'id' ? $next_id++ : gen_raw(col_type($_)) } @$cols ];
}

# a random subset of the columns for an INSERT (id and k always)
sub insert_cols
{
	my @c = grep { $_ eq 'id' || $_ eq 'k' || chance(0.85) } colnames();
	return \@c;
}

sub op_insert_values
{
	my $cols = insert_cols();
	my $rows = chance(0.4) ? 1 : 1 + rnd(chance(0.8) ? 20 : 300);
	my @v = map { '(' . join(', ', map { quote_lit($_) } @{ row_values($cols) }) . ')' } 1 .. $rows;
	return both('INSERT INTO %T (' . join(', ', @$cols) . ") VALUES\n"
		  . join(",\n", @v) . ";\n");
}

sub series_expr
{
	my ($name, $type) = @_;
	return 'g' if $name eq 'id';
	my $m = 2 + rnd(200);
	my $e;
	my $kd = $kind{$type};
	if ($kd eq 'int') { $e = "(g % $m)::$type"; }
	elsif ($kd eq 'float') { $e = pick("((g % $m) * 0.25)::$type", "(g * 1.1)::$type"); }
	elsif ($kd eq 'numeric') { $e = pick("((g % $m)::numeric / 100)", "(g * 1.5)::numeric"); }
	elsif ($kd eq 'text') { $e = pick("('s' || (g % $m))::$type", "md5(g::text)::$type",
			"repeat('x', g % $m)::$type"); }
	elsif ($type eq 'timestamptz') { $e = "timestamptz '2021-01-01 00:00:00+00' + g * interval '37 seconds'"; }
	elsif ($type eq 'timestamp') { $e = "timestamp '2021-01-01 00:00:00' + g * interval '41 minutes'"; }
	elsif ($type eq 'date') { $e = "date '2020-01-01' + (g % $m)"; }
	elsif ($type eq 'bool') { $e = "(g % $m = 0)"; }
	elsif ($type eq 'bytea') { $e = "decode(md5(g::text), 'hex')"; }
	elsif ($type eq 'jsonb') { $e = "jsonb_build_object('g', g % $m)"; }
	elsif ($type eq 'interval') { $e = "(g % $m) * interval '1 hour'"; }
	elsif ($type eq 'uuid') { $e = "md5(g::text)::uuid"; }
	else { die "no series expression for $type"; }
	my $nm = 3 + rnd(20);
	return chance(0.7) ? "CASE WHEN g % $nm = 1 THEN NULL ELSE $e END" : $e;
}

sub op_insert_series
{
	my $cols = insert_cols();
	my $rows = 1 + rnd(chance(0.8) ? 300 : 2000);
	my ($lo, $hi) = ($next_id, $next_id + $rows - 1);
	$next_id += $rows;
	my @e = map { series_expr($_, col_type($_)) } @$cols;
	return both('INSERT INTO %T (' . join(', ', @$cols) . ') SELECT '
		  . join(', ', @e) . " FROM generate_series($lo, $hi) g;\n");
}

sub op_insert_self
{
	my @cols = grep { $_ ne 'id' } colnames();
	my $c = join(', ', @cols);
	# ids near the type's maximum stay where they are (no overflow error)
	return both("INSERT INTO %T (id, $c) SELECT id + 1000000, $c FROM %T WHERE "
		  . gen_pred(0) . " AND k < " . rnd(20) . " AND id < 1000000000;\n");
}

sub op_copy
{
	my $cols = insert_cols();
	my $rows = 1 + rnd(chance(0.8) ? 200 : 1500);
	my $data = join('', map { join("\t", map { copy_lit($_) } @{ row_values($cols) }) . "\n" } 1 .. $rows);
	return both('COPY %T (' . join(', ', @$cols) . ") FROM STDIN;\n$data\\.\n");
}

# COPY FROM a server file, in parallel when the file is big enough and the
# table allows it: the lines reach the file through a helper table, so
# that the statements replay on their own
my $copy_file = $node->data_dir . '/diff_copy.txt';
sub op_copy_file
{
	my $cols = insert_cols();
	my $rows = 1500 + rnd(1500);
	my $data = join('', map { join("\t", map { copy_lit($_) } @{ row_values($cols) }) . "\n" } 1 .. $rows);
	my $raw = "(FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')";
	return "SET compact.min_parallel_copy_size = '8kB';\n"
	  . "CREATE TEMP TABLE IF NOT EXISTS copy_lines (n bigserial, l text);\nTRUNCATE copy_lines;\n"
	  . "COPY copy_lines (l) FROM STDIN $raw;\n$data\\.\n"
	  . "COPY (SELECT l FROM copy_lines ORDER BY n) TO '$copy_file' $raw;\n"
	  . both('COPY %T (' . join(', ', @$cols) . ") FROM '$copy_file';\n");
}

sub set_expr
{
	my ($c) = @_;
	my ($n, $ty) = ($c->{name}, $c->{type});
	return "$n = NULL" if chance(0.1);
	return "$n = " . quote_lit(gen_raw($ty)) if chance(0.3);
	my $kd = $kind{$ty};
	return "$n = $n % 1000000000 + 1000000" if $n eq 'id';
	return "$n = $n % 1000 + 1" if $kd eq 'int';
	return pick("$n = -$n", "$n = $n + 1") if $kd eq 'float';
	return pick("$n = $n + 0.5", "$n = round($n, 1)") if $kd eq 'numeric';
	return pick("$n = upper($n)", "$n = left($n || 'u', 18)") if $kd eq 'text';
	return "$n = $n + interval '1 hour'" if $kd eq 'ts' && $ty ne 'date';
	return "$n = $n + 1" if $ty eq 'date';
	return "$n = NOT $n" if $kd eq 'bool';
	return "$n = " . quote_lit(gen_raw($ty));
}

sub returning_digest
{
	my ($stmt) = @_;
	$tag++;
	return "WITH d AS ($stmt RETURNING " . col_list()
	  . ") SELECT 'R:p:ret$tag:%S:' || " . digest('d') . " FROM d;\n";
}

sub op_update
{
	my @targets = grep { $_->{name} ne 'id' || chance(0.1) } @{ $schema{cols} };
	my %seen;
	my @set = grep { !$seen{ $_->{name} }++ } map { pick(@targets) } 1 .. 1 + rnd(2);
	my $stmt = 'UPDATE %T SET ' . join(', ', map { set_expr($_) } @set)
	  . ' WHERE ' . gen_pred(0);
	return both(chance(0.25) ? returning_digest($stmt) : "$stmt;\n");
}

sub op_delete
{
	my $stmt = 'DELETE FROM %T WHERE ' . gen_pred(0);
	return both(chance(0.25) ? returning_digest($stmt) : "$stmt;\n");
}

sub op_truncate { return both("TRUNCATE %T;\n"); }

sub op_add_column
{
	return undef if @{ $schema{cols} } >= 12;
	my $type = pick(@add_types);
	my $name = 'a' . $schema{next_col}++;
	my $def = chance(0.5) ? ' DEFAULT ' . quote_lit(gen_raw($type, 1)) : '';
	push @{ $schema{cols} }, { name => $name, type => $type };
	return both("ALTER TABLE %T ADD COLUMN $name $type$def;\n");
}

sub op_drop_column
{
	my @cand = grep { $_->{name} ne 'id' && $_->{name} ne 'k' } @{ $schema{cols} };
	return undef if @{ $schema{cols} } <= 3 || !@cand;
	my $name = pick(@cand)->{name};
	$schema{cols} = [ grep { $_->{name} ne $name } @{ $schema{cols} } ];
	$schema{indexes} = [ grep { !grep { $_ eq $name } @{ $_->{cols} } } @{ $schema{indexes} } ];
	return both("ALTER TABLE %T DROP COLUMN $name;\n");
}

sub op_alter_type
{
	my @cand = grep { $widen{ $_->{type} } } @{ $schema{cols} };
	return undef unless @cand;
	my $c = pick(@cand);
	$c->{type} = $widen{ $c->{type} };
	return both("ALTER TABLE %T ALTER COLUMN $c->{name} TYPE $c->{type};\n");
}

sub op_create_index
{
	return undef if @{ $schema{indexes} } >= 3;
	my @cols = (pick(@{ $schema{cols} })->{name});
	if (chance(0.2))
	{
		my $second = pick(@{ $schema{cols} })->{name};
		push @cols, $second if $second ne $cols[0];
	}
	my $name = 'i' . $schema{next_index}++;
	push @{ $schema{indexes} }, { name => $name, cols => \@cols };
	return both("CREATE INDEX %I$name ON %T (" . join(', ', @cols) . ");\n");
}

sub op_drop_index
{
	return undef unless @{ $schema{indexes} };
	my $i = pick(@{ $schema{indexes} });
	$schema{indexes} = [ grep { $_ != $i } @{ $schema{indexes} } ];
	return both("DROP INDEX %I$i->{name};\n");
}

sub op_cluster
{
	return undef unless @{ $schema{indexes} };
	my $i = pick(@{ $schema{indexes} });
	return both("CLUSTER %T USING %I$i->{name};\n");
}

sub sort_spec
{
	my @c = map { $_->{name} } @{ $schema{cols} };
	my @spec;
	my %seen;
	for (1 .. 1 + rnd(3))
	{
		my $n = pick(@c);
		next if $seen{$n}++;
		my $s = $n;
		$s .= ' DESC' if chance(0.3);
		$s .= pick(' NULLS FIRST', ' NULLS LAST') if chance(0.2);
		push @spec, $s;
	}
	return join(', ', @spec);
}

sub curve_spec
{
	my @c = map { $_->{name} }
	  grep { $kind{ $_->{type} } =~ /^(int|float|numeric|ts|text)$/ } @{ $schema{cols} };
	my %seen;
	my @spec = grep { !$seen{$_}++ } map { pick(@c) } 1 .. 2 + rnd(3);
	push @spec, grep { !$seen{$_}++ } ('id', 'k') if @spec < 2;
	return join(', ', @spec);
}

sub sqlq { (my $s = $_[0]) =~ s/'/''/g; return $s; }

# a compaction of c, in one of its forms (the heap twin: nothing or VACUUM)
sub op_compaction
{
	my ($in_txn) = @_;
	my $form = weighted(
		$in_txn ? () : (
			vac => 3, vac_order => 2, vac_z => 2, vac_hilbert => 2, vac_filter => 2,
			vac_dry => 0.5, vac_optimize => 1, vac_order_filter => 0.5,
			exec_vacuum => 0.5, fn_vacuum => 0.5, fn_optimize => 0.5),
		fn => 2, fn_order => 1, fn_z => 1, fn_hilbert => 1, fn_filter => 1,
		exec => 1, exec_order => 1, exec_z => 0.5, exec_hilbert => 0.5,
		exec_where => 0.5, exec_optimize => 0.3);
	my $sql;
	if ($form eq 'vac') { $sql = "VACUUM (COMPACT) c;\n"; }
	elsif ($form eq 'vac_order') { $sql = "VACUUM (COMPACT, ORDER_BY '" . sort_spec() . "') c;\n"; }
	elsif ($form eq 'vac_z') { $sql = "VACUUM (COMPACT, Z_ORDER_BY '" . curve_spec() . "') c;\n"; }
	elsif ($form eq 'vac_hilbert') { $sql = "VACUUM (COMPACT, HILBERT_BY '" . curve_spec() . "') c;\n"; }
	elsif ($form eq 'vac_filter') { $sql = "VACUUM (COMPACT, FILTER '" . sqlq(gen_pred(1)) . "') c;\n"; }
	elsif ($form eq 'vac_order_filter')
	{
		$sql = "VACUUM (COMPACT, ORDER_BY '" . sort_spec() . "', FILTER '" . sqlq(gen_pred(1)) . "') c;\n";
	}
	elsif ($form eq 'vac_dry') { $sql = "VACUUM (COMPACT, DRY_RUN) c;\n"; }
	elsif ($form eq 'vac_optimize') { $sql = pick("VACUUM (OPTIMIZE) c;\n", "VACUUM (OPTIMIZE, RECOMPUTE_STATISTICS) c;\n"); }
	elsif ($form eq 'exec_vacuum') { $sql = "SELECT count(*) FROM compact.execute('VACUUM TABLE c');\n"; }
	elsif ($form eq 'fn_vacuum') { $sql = "SELECT count(*) FROM compact.vacuum_table('c');\n"; }
	elsif ($form eq 'fn_optimize') { $sql = "SELECT count(*) FROM compact.optimize_table('c', recompute_statistics => " . pick('true', 'false') . ");\n"; }
	elsif ($form eq 'fn') { $sql = "SELECT count(*) FROM compact.compact_table('c');\n"; }
	elsif ($form eq 'fn_order') { $sql = "SELECT count(*) FROM compact.compact_table('c', order_by => '" . sort_spec() . "');\n"; }
	elsif ($form eq 'fn_z') { $sql = "SELECT count(*) FROM compact.compact_table('c', z_order_by => '" . curve_spec() . "');\n"; }
	elsif ($form eq 'fn_hilbert') { $sql = "SELECT count(*) FROM compact.compact_table('c', hilbert_by => '" . curve_spec() . "');\n"; }
	elsif ($form eq 'fn_filter') { $sql = "SELECT count(*) FROM compact.compact_table('c', filter => '" . sqlq(gen_pred(1)) . "');\n"; }
	elsif ($form eq 'exec') { $sql = "SELECT count(*) FROM compact.execute('COMPACT TABLE c');\n"; }
	elsif ($form eq 'exec_order') { $sql = "SELECT count(*) FROM compact.execute('COMPACT TABLE c ORDER BY (" . sort_spec() . ")');\n"; }
	elsif ($form eq 'exec_z') { $sql = "SELECT count(*) FROM compact.execute('COMPACT TABLE c Z_ORDER BY (" . curve_spec() . ")');\n"; }
	elsif ($form eq 'exec_hilbert') { $sql = "SELECT count(*) FROM compact.execute('COMPACT TABLE c HILBERT BY (" . curve_spec() . ")');\n"; }
	elsif ($form eq 'exec_where') { $sql = "SELECT count(*) FROM compact.execute('COMPACT TABLE c WHERE " . sqlq(gen_pred(1)) . "');\n"; }
	elsif ($form eq 'exec_optimize') { $sql = "SELECT count(*) FROM compact.execute('OPTIMIZE TABLE c RECOMPUTE STATISTICS');\n"; }
	else { die $form; }
	$sql .= "VACUUM h;\n" if !$in_txn && chance(0.3);
	return $sql;
}

sub op_table_option
{
	my $r = rnd(8);
	return "ALTER TABLE c SET (compact_target_file_size_mb = " . (1 + rnd(3)) . ");\n" if $r == 0;
	return "ALTER TABLE c SET (compact_min_file_size_mb = " . (1 + rnd(2)) . ");\n" if $r == 1;
	return "ALTER TABLE c SET (compact_deleted_ratio = " . pick('0.05', '0.25', '0.5') . ");\n" if $r == 2;
	return "ALTER TABLE c SET (" . pick("compact_order_by = 'id'", "compact_order_by = 'k DESC, id'",
		"compact_z_order_by = 'id, k'", "compact_hilbert_by = 'k, id'") . ");\n" if $r == 3;
	return "ALTER TABLE c RESET (compact_order_by, compact_z_order_by, compact_hilbert_by);\n" if $r == 4;
	return "SELECT count(*) FROM compact.set_options('c', compact_target_file_size_mb => 1, compact_deleted_ratio => 0.1);\n" if $r == 5;
	return "ALTER TABLE c RESET (compact_target_file_size_mb, compact_min_file_size_mb, compact_deleted_ratio);\n" if $r == 6;
	return "SELECT count(*) FROM compact.execute('ALTER TABLE c SET (compact_threshold_files = " . (2 + rnd(5)) . ")');\n";
}

sub op_guc
{
	my $r = rnd(5);
	return "SET compact.row_group_size = " . pick(1000, 1000, 1500, 4000) . ";\n" if $r == 0;
	return "SET compact.write_buffer_size = '" . pick('1MB', '2MB', '8MB', '64MB') . "';\n" if $r == 1;
	return "SET compact.compression_level = " . pick(-3, 1, 1, 5) . ";\n" if $r == 2;
	# compactions through a parallel writer (0: every group), or not
	return "SET compact.min_parallel_compaction_size = " . pick("0", "0", "-1") . ";\n" if $r == 3;
	return "SET maintenance_work_mem = '" . pick('1MB', '64MB') . "';\n";
}

sub op_set_am
{
	return "ALTER TABLE c SET ACCESS METHOD heap;\n" . diff_check('am_heap')
	  . "ALTER TABLE c SET ACCESS METHOD compact;\n";
}

# --- checks -------------------------------------------------------------------------
sub diff_query
{
	my ($t1, $t2, $l) = @_;
	return "(SELECT ROW($l)::text r FROM $t1 EXCEPT ALL SELECT ROW($l)::text FROM $t2)";
}

# The full contents as text, compared through an order-independent digest:
# the row count and the sum of the rows' text hashes (a mismatch then prints
# the differing rows through EXCEPT ALL).
sub digest { return "count(*) || ':' || coalesce(sum(hashtext($_[0]::text)::bigint), 0)"; }

sub diff_check
{
	my ($name) = @_;
	my $l = col_list();
	return "SELECT 'R:p:$name:c:' || " . digest("ROW($l)") . " FROM c;\n"
	  . "SELECT 'R:p:$name:h:' || " . digest("ROW($l)") . " FROM h;\n";
}

sub pair_query
{
	my ($name, $query) = @_;
	return both("SELECT 'R:p:$name:%S:' || " . digest('q') . " FROM ($query) q;\n");
}

# aggregates of a column that CompactScan may compute itself, whose results
# do not depend on the order rows are read in (no float sums; -0 and 0 tie)
sub scan_aggs
{
	my ($col) = @_;
	my $kd = $kind{ col_type($col) // '' } // 'other';
	return ("count($col)", "sum($col)", "avg($col)", "min($col)", "max($col)") if $kd eq 'int';
	return ("count($col)", "min($col) + 0", "max($col) + 0") if $kd eq 'float';
	return ("min($col)", "max($col)") if $kd eq 'ts';
	return ("count($col)");
}

sub scan_check
{
	my $sql = '';
	my @c = grep { chance(0.5) } colnames();
	@c = ('k') unless @c;
	my $pred = gen_pred(0);
	# equal numerics of different scales (0.0, 0.000) and floats -0 and 0
	# are ties whose winner depends on the order rows are read in
	my $kty = col_type('k') // '';
	my ($min, $max) = $kty eq 'numeric' ? ('trim_scale(min(k))', 'trim_scale(max(k))')
	  : $kty =~ /^float/ ? ('min(k) + 0', 'max(k) + 0') : ('min(k)', 'max(k)');
	my $q = chance(0.15)
	  ? "SELECT count(*), $min, $max, sum(k), count(DISTINCT " . pick(colnames()) . ") FROM %T WHERE $pred"
	  : chance(0.25) ? 'SELECT ' . join(', ', 'count(*)', map { scan_aggs($_) } @c) . " FROM %T WHERE $pred"
	  : 'SELECT ' . join(', ', @c) . " FROM %T WHERE $pred";
	my $noprune = chance(0.5);
	my $parallel = chance(0.03);
	$sql .= "-- check scan\n";
	$sql .= "SET compact.scan_pruning = off;\n" if $noprune;
	$sql .= "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;\n"
	  if $parallel;
	$tag++;
	$sql .= pair_query("scan$tag", $q);
	$sql .= "RESET compact.scan_pruning;\n" if $noprune;
	$sql .= "RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;\n"
	  if $parallel;
	return $sql;
}

sub gen_checks
{
	my $sql = '';
	my $plain = chance(0.25);
	$sql .= "-- check diff\n";
	$sql .= "SET compact.enable_custom_scan = off;\n" if $plain;
	$sql .= diff_check($plain ? 'diff_plain' : 'diff');
	$sql .= "RESET compact.enable_custom_scan;\n" if $plain;
	# the fragments' live rows add up to count(*)
	$sql .= "-- check fragments\n"
	  . "SELECT 'R:z:fragments:' || ((SELECT count(*) FROM c) - (SELECT coalesce(sum(row_count - deleted_rows), 0) FROM compact.fragments WHERE relation = 'c'::regclass));\n"
	  if chance(0.3);

	# a CompactScan query with a WHERE clause
	$sql .= scan_check() if chance(0.7);

	# an index scan (narrow: a fetch by TID decodes a whole row group)
	if (@{ $schema{indexes} } && chance(0.6))
	{
		my $i = pick(@{ $schema{indexes} });
		my $col = $i->{cols}[0];
		my $ty = col_type($col);
		my $v = rnd(100);
		my $p = chance(0.1) ? "$col IS NULL"
		  : $kind{$ty} eq 'int' && chance(0.7) ? "$col BETWEEN $v AND " . ($v + rnd(4))
		  : $kind{$ty} eq 'text' && chance(0.5) ? "$col >= 's1' AND $col < 's2'"
		  : $kind{$ty} eq 'bool' ? "$col = " . typed_lit($ty)
		  : chance(0.6) ? "$col = " . typed_lit($ty)
		  : "$col >= " . typed_lit($ty) . " AND $col <= " . typed_lit($ty);
		my $proj = chance(0.3) ? $col : col_list();
		# an index scan, or a bitmap scan (sometimes of lossy pages)
		my $off = chance(0.5) ? 'enable_bitmapscan' : 'enable_indexscan';
		my $lossy = $off eq 'enable_indexscan' && chance(0.3);
		$tag++;
		$sql .= "-- check index\n";
		$sql .= "SET enable_seqscan = off; SET $off = off; SET compact.enable_custom_scan = off;\n";
		$sql .= "SET work_mem = '64kB';\n" if $lossy;
		$sql .= pair_query("index$tag", "SELECT $proj FROM %T WHERE $p");
		$sql .= "RESET work_mem;\n" if $lossy;
		$sql .= "RESET enable_seqscan; RESET $off; RESET compact.enable_custom_scan;\n";
	}
	return $sql;
}

# --- transactions ---------------------------------------------------------------------
sub gen_dml
{
	my ($auto_phase) = @_;
	my $op = weighted(insert_values => 4, insert_series => 2, copy => 2, copy_file => 1,
		update => 4, delete => 3, insert_self => 0.5,
		add_column => 0.3, create_index => 0.2, truncate => 0.1, guc => 0.2);
	my $sql;
	if ($op eq 'insert_values') { $sql = op_insert_values(); }
	elsif ($op eq 'insert_series') { $sql = op_insert_series(); }
	elsif ($op eq 'insert_self') { $sql = op_insert_self(); }
	elsif ($op eq 'copy') { $sql = op_copy(); }
	elsif ($op eq 'copy_file') { $sql = op_copy_file(); }
	elsif ($op eq 'update') { $sql = op_update(); }
	elsif ($op eq 'delete') { $sql = op_delete(); }
	elsif ($op eq 'add_column') { $sql = op_add_column(); }
	elsif ($op eq 'create_index') { $sql = op_create_index(); }
	elsif ($op eq 'truncate') { $sql = op_truncate(); }
	elsif ($op eq 'guc') { $sql = op_guc(); }
	return $sql // op_insert_values();
}

sub op_transaction
{
	my ($auto_phase) = @_;
	my $saved = clone_schema();
	my $sql = pick('BEGIN', 'BEGIN', 'BEGIN ISOLATION LEVEL REPEATABLE READ') . ";\n";
	# a compaction in a transaction must come before the transaction's
	# writes ("cannot compact table because the current transaction has
	# changed it")
	$sql .= op_compaction(1) if !$auto_phase && chance(0.15);
	$sql .= gen_dml($auto_phase) for 1 .. 1 + rnd(3);
	if (chance(0.6))
	{
		my $sp = clone_schema();
		$sql .= "SAVEPOINT s1;\n";
		$sql .= gen_dml($auto_phase) for 1 .. 1 + rnd(3);
		$sql .= diff_check('in_savepoint') if chance(0.5);
		if (chance(0.6))
		{
			$sql .= "ROLLBACK TO SAVEPOINT s1;\n";
			%schema = %$sp;
		}
		else
		{
			$sql .= "RELEASE SAVEPOINT s1;\n";
		}
		$sql .= gen_dml($auto_phase) if chance(0.5);
	}
	$sql .= diff_check('in_txn') if chance(0.6);
	if (chance(0.35))
	{
		$sql .= "ROLLBACK;\n";
		%schema = %$saved;
	}
	else
	{
		$sql .= "COMMIT;\n";
	}
	return $sql;
}

# --- one step ------------------------------------------------------------------------
my $last_count = 0;
sub gen_step
{
	my ($auto_phase) = @_;
	my $ins = $last_count > $max_rows ? 0.05 : $last_count < 300 ? 2 : 1;
	my $del = $last_count > $max_rows ? 4 : 1;
	while (1)
	{
		my $op = weighted(
			insert_values => 10 * $ins, insert_series => 6 * $ins, copy => 6 * $ins,
			copy_file => 3 * $ins,
			insert_self => 1.5 * $ins, update => 10, delete => 7 * $del,
			transaction => 12, compaction => 12, table_option => 1.5,
			vacuum => 3, vacuum_full => 1, analyze => 1, truncate => 0.25,
			add_column => 2, drop_column => 1.2, alter_type => 0.5,
			create_index => 2, drop_index => 0.7, cluster => 0.3,
			set_am => 0.3, guc => 1.5);
		my $sql;
		if ($op eq 'insert_values') { $sql = op_insert_values(); }
		elsif ($op eq 'insert_series') { $sql = op_insert_series(); }
		elsif ($op eq 'copy') { $sql = op_copy(); }
		elsif ($op eq 'copy_file') { $sql = op_copy_file(); }
		elsif ($op eq 'insert_self') { $sql = op_insert_self(); }
		elsif ($op eq 'update') { $sql = op_update(); }
		elsif ($op eq 'delete') { $sql = op_delete(); }
		elsif ($op eq 'transaction') { $sql = op_transaction($auto_phase); }
		elsif ($op eq 'compaction') { $sql = op_compaction(0); }
		elsif ($op eq 'table_option') { $sql = op_table_option(); }
		elsif ($op eq 'vacuum') { $sql = both("VACUUM %T;\n"); }
		elsif ($op eq 'vacuum_full') { $sql = both("VACUUM FULL %T;\n"); }
		elsif ($op eq 'analyze') { $sql = both("ANALYZE %T;\n"); }
		elsif ($op eq 'truncate') { $sql = op_truncate(); }
		elsif ($op eq 'add_column') { $sql = op_add_column(); }
		elsif ($op eq 'drop_column') { $sql = op_drop_column(); }
		elsif ($op eq 'alter_type') { $sql = op_alter_type(); }
		elsif ($op eq 'create_index') { $sql = op_create_index(); }
		elsif ($op eq 'drop_index') { $sql = op_drop_index(); }
		elsif ($op eq 'cluster') { $sql = op_cluster(); }
		elsif ($op eq 'set_am') { $sql = op_set_am(); }
		elsif ($op eq 'guc') { $sql = op_guc(); }
		return { op => $op, sql => $sql } if defined $sql;
	}
}

# ---------------------------------------------------------------------------
# Running steps and judging their output.
# ---------------------------------------------------------------------------
my $setup_sql = q{SET client_min_messages = warning;
DROP TABLE IF EXISTS c, h;
CREATE TABLE c (id int, k int, ts timestamptz, f float8, t text, n numeric) USING compact;
CREATE TABLE h (id int, k int, ts timestamptz, f float8, t text, n numeric);
};
# put the cluster back as a run starts (a replay follows the steps' own switches)
my $reset_sql = q{ALTER SYSTEM RESET compact.auto_compact;
SELECT pg_reload_conf();
};

# returns undef when the output is fine, else { class, detail }
sub judge
{
	my ($out, $err, $died) = @_;
	my @errs = grep { /\b(ERROR|FATAL|PANIC|WARNING):|server closed|connection to server/ } split /\n/, $err;
	if (@errs || $died)
	{
		# the distinct errors, without those that only follow from another
		my %classes;
		for my $e (@errs)
		{
			next if $e =~ /current transaction is aborted|savepoint "s1" does not exist/;
			next if $died && $e =~ /server closed|connection to server|terminating connection/;
			(my $class = $e) =~ s/^.*?\b(ERROR|FATAL|PANIC|WARNING):\s*/$1: /;
			$class =~ s/\d+/N/g;
			$class =~ s/"[^"]*"/"X"/g;
			$classes{$class} = 1;
		}
		$classes{'(server crash)'} = 1 if $died;
		my $detail = $err;
		$detail .= "\npsql session ended: $died" if $died;
		if ($died)
		{
			my @log = grep { /terminated by signal|TRAP:|PANIC|Failed process was running/ }
			  split /\n/, slurp_file($node->logfile);
			$detail .= "\nserver log:\n" . join("\n", @log[ ($#log > 3 ? $#log - 3 : 0) .. $#log ]);
		}
		return { class => join(' / ', sort keys %classes), detail => $detail };
	}
	my (%pairs, @bad);
	for my $line (split /\n/, $out)
	{
		next unless $line =~ /^R:(\w):([^:]+):(.*)$/;
		my ($k, $name, $v) = ($1, $2, $3);
		if ($k eq 'z')
		{
			push @bad, "check $name: $v rows differ" if $v ne '0';
		}
		elsif ($k eq 'p')
		{
			my ($side, $val) = split /:/, $v, 2;
			$pairs{$name}{$side} = $val;
		}
	}
	for my $name (sort keys %pairs)
	{
		my ($cv, $hv) = ($pairs{$name}{c} // '(none)', $pairs{$name}{h} // '(none)');
		push @bad, "check $name: compact $cv, heap $hv" if $cv ne $hv;
	}
	return { class => 'mismatch', detail => join("\n", @bad) } if @bad;
	return undef;
}

sub last_count_of
{
	my ($out) = @_;
	my @m = $out =~ /^R:p:diff\w*:h:(\d+):/mg;
	return @m ? $m[-1] : $last_count;
}

# jobs of the background workers still queued or running
sub wait_for_jobs
{
	$node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM compact.compaction_jobs WHERE compaction_status IN ('queued', 'running')")
	  or diag('background compaction jobs still running');
}

# ---------------------------------------------------------------------------
# The run.
# ---------------------------------------------------------------------------
my @steps = ({ op => 'setup', sql => $setup_sql, checks => '' });
my $auto_from = int($nops * 0.75);
my $sess = session_start();
session_run($sess, $reset_sql . $setup_sql);
my %opcount;
my $failure;
my $profile = $ENV{COMPACT_DIFF_PROFILE};
my %prof;
my $started = time();
for my $i (1 .. $nops)
{
	my $step;
	if ($i == $auto_from)
	{
		$step = { op => 'auto_on', sql => "ALTER SYSTEM SET compact.auto_compact = on;\nSELECT pg_reload_conf();\n"
			  . "ALTER TABLE c SET (compact_threshold_files = 3, compact_deleted_ratio = 0.1);\n" };
	}
	else
	{
		$step = gen_step($i >= $auto_from);
	}
	$step->{checks} = gen_checks();
	push @steps, $step;
	$opcount{ $step->{op} }++;
	my ($out, $err, $died);
	if ($profile)
	{
		# step and checks in two round trips, timed separately
		my $t0 = time();
		($out, $err, $died) = session_run($sess, $step->{sql});
		$prof{ $step->{op} } += time() - $t0;
		for my $part (split /(?=^-- check )/m, $step->{checks})
		{
			my $t1 = time();
			my ($o2, $e2, $d2) = session_run($sess, $part);
			my ($name) = $part =~ /^-- check (\w+)/;
			$prof{ 'check ' . ($name // '?') } += time() - $t1;
			($out, $err, $died) = ($out . $o2, $err . $e2, $died || $d2);
		}
	}
	else
	{
		($out, $err, $died) = session_run($sess, $step->{sql} . $step->{checks});
	}
	$failure = judge($out, $err, $died);
	if ($failure)
	{
		$failure->{step} = $i;
		$failure->{out} = $out;
		last;
	}
	$last_count = last_count_of($out);
}
my $elapsed = time() - $started;

if (!$failure)
{
	# auto compaction off, let the workers finish, compare once more
	my $step = { op => 'auto_off', sql => "ALTER SYSTEM RESET compact.auto_compact;\nSELECT pg_reload_conf();\n" };
	$step->{checks} = gen_checks();
	push @steps, $step;
	session_run($sess, $step->{sql});
	wait_for_jobs();
	my ($out, $err, $died) = session_run($sess, "VACUUM c;\n" . $step->{checks});
	$failure = judge($out, $err, $died);
	if ($failure) { $failure->{step} = scalar(@steps) - 1; $failure->{out} = $out; }
}
session_stop($sess) unless $sess->{dead};
# after a crash, wait for the restart
$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';

diag(sprintf('%d steps in %.1f s; ops: %s', scalar(@steps) - 1, $elapsed,
		join(', ', map { "$_ $opcount{$_}" } sort keys %opcount)));
diag('seconds per kind of step: ' . join(', ', map { sprintf('%s %.2f', $_, $prof{$_}) } sort { $prof{$b} <=> $prof{$a} } keys %prof))
  if $profile;
eval {
	my $jobs = $node->safe_psql('postgres',
		"SELECT compaction_status || ' ' || count(*) FROM compact.compaction_jobs GROUP BY compaction_status ORDER BY 1");
	$jobs =~ s/\n/, /g;
	diag("compaction jobs: $jobs");
	my $job_errors = $node->safe_psql('postgres',
		"SELECT DISTINCT error FROM compact.compaction_jobs WHERE error IS NOT NULL AND trigger = 'auto' LIMIT 5");
	diag("failed background jobs: $job_errors") if $job_errors ne '';
};

# ---------------------------------------------------------------------------
# Minimization: the shortest failing prefix, then drop steps not needed.
# ---------------------------------------------------------------------------
sub replay
{
	my ($idx) = @_;    # step indexes; each step runs with its checks, as in the run
	fresh_cluster();
	my $s = session_start();
	session_run($s, $reset_sql);
	my $sql = join('', map { $steps[$_]{sql} . $steps[$_]{checks} } @$idx);
	my ($out, $err, $died) = session_run($s, $sql, 1200);
	session_stop($s) unless $s->{dead};
	my $f = judge($out, $err, $died);
	$f->{out} = $out if $f;
	return $f;
}

sub same_failure
{
	my ($f) = @_;
	return $f && $f->{class} eq $failure->{class};
}

if ($failure)
{
	diag("DIVERGENCE with COMPACT_DIFF_SEED=$seed at step $failure->{step} ($steps[$failure->{step}]{op}): "
		  . "$failure->{class}\n$failure->{detail}");
	if ($failure->{class} eq 'mismatch')
	{
		my $l = col_list();
		diag("rows only in one table (first 10 each):\n" . eval { $node->safe_psql('postgres',
			"(SELECT 'compact only: ' || r FROM " . diff_query('c', 'h', $l) . " x LIMIT 10) UNION ALL "
			  . "(SELECT 'heap only:    ' || r FROM " . diff_query('h', 'c', $l) . " y LIMIT 10)") } // "(query failed: $@)");
	}
	my $deadline = time() + $minimize_secs;
	my @idx = (0 .. $failure->{step});
	# bisect on the number of steps
	my ($lo, $hi) = (0, $failure->{step});
	my $f = replay(\@idx);
	if (!same_failure($f))
	{
		diag('the failure does not reproduce on replay of all steps (timing-dependent?); '
			  . 'printing the whole trace; the replay gave: '
			  . ($f ? "$f->{class}\n$f->{detail}" : 'no failure'));
	}
	else
	{
		while ($hi - $lo > 1 && time() < $deadline)
		{
			my $mid = int(($lo + $hi) / 2);
			if (same_failure(replay([ 0 .. $mid ]))) { $hi = $mid; }
			else { $lo = $mid; }
		}
		@idx = (0 .. $hi);
		diag("shortest failing prefix: $hi steps");
		# drop chunks of steps (never the setup and the last step)
		my $chunk = int(@idx / 2);
		while ($chunk >= 1 && time() < $deadline)
		{
			my $j = @idx - 2;
			while ($j >= 1 && time() < $deadline)
			{
				my $from = $j - $chunk + 1;
				$from = 1 if $from < 1;
				my @try = (@idx[ 0 .. $from - 1 ], @idx[ $j + 1 .. $#idx ]);
				if (same_failure(replay(\@try)))
				{
					@idx = @try;
				}
				$j = $from - 1;
			}
			$chunk = int($chunk / 2);
		}
		diag(sprintf('minimized to %d steps%s', @idx - 1,
				time() < $deadline ? '' : ' (time budget exhausted; not minimal)'));
		$f = replay(\@idx);
		diag("replayed: " . ($f ? "$f->{class}\n$f->{detail}" : 'no failure (flaky)'));
	}
	my $script = "-- compact differential test, COMPACT_DIFF_SEED=$seed, steps "
	  . join(',', @idx) . "\n-- (CREATE EXTENSION compact first; R:z:* must be 0, R:p:* c and h must match)\n"
	  . join('', map { "-- step $_ ($steps[$_]{op})\n$steps[$_]{sql}$steps[$_]{checks}" } @idx);
	my $file = "$PostgreSQL::Test::Utils::tmp_check/diff_repro_$seed.sql";
	if (open(my $fh, '>', $file)) { print $fh $script; close $fh; }
	diag("repro script ($file):\n"
		  . (length($script) > 20000 ? substr($script, 0, 20000) . "\n... (truncated, see the file)\n" : $script));
}

ok(!$failure, "compact and heap agree after " . (scalar(@steps) - 1)
	  . " random steps (COMPACT_DIFF_SEED=$seed)");

my $log = slurp_file($node->logfile);
my @bad = grep { /TRAP:|PANIC|terminated by signal/ } split /\n/, $log;
ok(!@bad, 'no assertion failure, PANIC or crashed process in the server log')
  or diag(join("\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]));

$node->stop;
done_testing();

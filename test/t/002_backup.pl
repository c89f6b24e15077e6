# pg_basebackup of a cluster with data checksums copies the fragment files
# (they live outside base/, so checksum verification leaves them alone), and
# the restored copy returns the same rows.  CREATE DATABASE ... TEMPLATE
# copies them too, and DROP DATABASE removes them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1, extra => ['--data-checksums']);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'compact'");
$node->append_conf('postgresql.conf', "compact.auto_compact = off");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION compact;
	CREATE TABLE t (id int, v text) USING compact;
	INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
	DELETE FROM t WHERE id % 4 = 0;
});
my $digest = $node->safe_psql('postgres',
	'SELECT count(*), md5(string_agg(v, \',\' ORDER BY id)) FROM t');

$node->backup('bk');
my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init_from_backup($node, 'bk');
$restored->start;
is($restored->safe_psql('postgres',
	'SELECT count(*), md5(string_agg(v, \',\' ORDER BY id)) FROM t'),
	$digest, 'the restored base backup returns the same rows');
$restored->stop;

command_ok(['pg_checksums', '--check', '-D', $restored->data_dir],
	'pg_checksums accepts a cluster with compact tables');

# CREATE DATABASE ... TEMPLATE copies the fragment files
$node->safe_psql('postgres', 'CREATE DATABASE copy TEMPLATE postgres');
is($node->safe_psql('copy',
	'SELECT count(*), md5(string_agg(v, \',\' ORDER BY id)) FROM t'),
	$digest, 'a database created from a template has the same rows');
my $copyoid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'copy'");
ok(-d $node->data_dir . "/pg_compact/$copyoid", 'the copy has its own fragment directory');
$node->safe_psql('postgres', 'DROP DATABASE copy');
ok(!-d $node->data_dir . "/pg_compact/$copyoid", 'DROP DATABASE removes it');

# pg_dump and pg_restore carry compact tables, their access method and rows
my $dump = $node->basedir . '/compact.dump';
command_ok(['pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres')],
	'pg_dump of a database with compact tables');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
command_ok(['pg_restore', '-d', $node->connstr('restored'), $dump],
	'pg_restore into a new database');
is($node->safe_psql('restored',
	'SELECT count(*), md5(string_agg(v, \',\' ORDER BY id)) FROM t'),
	$digest, 'the restored table has the same rows');
is($node->safe_psql('restored',
	"SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 't'"),
	'compact', 'and is still a compact table');

# DROP TABLE removes the table's directory at commit, not before
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $relnode = $node->safe_psql('postgres', "SELECT relfilenode FROM pg_class WHERE relname = 't'");
$node->safe_psql('postgres', 'BEGIN; DROP TABLE t; ROLLBACK;');
ok(-d $node->data_dir . "/pg_compact/$dboid/$relnode", 'a rolled back DROP keeps the files');
$node->safe_psql('postgres', 'DROP TABLE t');
ok(!-d $node->data_dir . "/pg_compact/$dboid/$relnode", 'DROP TABLE removes the files');

# loading the library without preloading it is refused with a hint
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
my ($ret, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION compact');
like($err, qr/compact must be loaded via shared_preload_libraries/, 'not preloaded: clear error');
like($err, qr/HINT:.*shared_preload_libraries/, 'with a hint');
$plain->stop;

$node->stop;
done_testing();

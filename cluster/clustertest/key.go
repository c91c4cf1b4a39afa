package clustertest

import (
	"os"
	"path/filepath"
	"testing"

	"raftmq/cluster/transport"
)

// WriteClusterKey writes a new cluster key file (what `raftmq keygen`
// prints) under t.TempDir() and returns its path.
func WriteClusterKey(t testing.TB) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "cluster-*.key")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(transport.NewClusterKey() + "\n"); err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(f.Name())
}

// KeyArgs are the serve flags that give a node the key files, in order (the
// first sends): pass them to StartCluster or in Process.Args.
func KeyArgs(files ...string) []string {
	var args []string
	for _, f := range files {
		args = append(args, "--cluster-key", f)
	}
	return args
}

package main

import (
	"fmt"
	"io"
	"strings"

	"raftmq/cluster/transport"
)

// clusterKeyFiles is the --cluster-key flag: given twice (or as a comma
// separated list, which is how RAFTMQ_CLUSTER_KEY names two), the first
// file's key is used to send and both are accepted.
type clusterKeyFiles []string

func (f *clusterKeyFiles) String() string { return strings.Join(*f, ",") }

func (f *clusterKeyFiles) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*f = append(*f, p)
		}
	}
	return nil
}

// loadClusterKeys reads every key file, in order.
func loadClusterKeys(files []string) ([][]byte, error) {
	var keys [][]byte
	for _, p := range files {
		k, err := transport.LoadClusterKey(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// keygen prints a new cluster key followed by a newline: `raftmq keygen >
// cluster.key` makes a key file.
func keygen(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: raftmq keygen   (prints a new cluster key)")
		if args[0] == "-h" || args[0] == "--help" {
			return 0
		}
		return 2
	}
	fmt.Fprintln(stdout, transport.NewClusterKey())
	return 0
}

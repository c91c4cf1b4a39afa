package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
)

// keygenBytes is the size of a cluster key.
const keygenBytes = 32

// runKeygen prints a new cluster key: standard base64, with padding, of 32
// random bytes, and a newline.
func runKeygen(out io.Writer) error {
	var k [keygenBytes]byte
	if _, err := rand.Read(k[:]); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	_, err := fmt.Fprintln(out, base64.StdEncoding.EncodeToString(k[:]))
	return err
}

// Package sdkauth is Huawei Cloud's AK/SK request signature SDK-HMAC-SHA256
// (API.md section 5), computed exactly as the official Go SDK's signer
// (huaweicloud-sdk-go-v3, core/auth/signer) computes it: the canonical
// request, the string to sign and the signature, and a client-side Sign.
//
// # Owns
//
//   - The canonical forms: the URI (each path segment decoded then escaped,
//     ending with a slash), the query (sorted by name then value, escaped),
//     the headers (signed names in the order sent, values trimmed, several
//     values of one name sorted) and the body's hex SHA-256.
//   - Sign, for our own clients (the load harness, the CLI): it signs host
//     and x-sdk-date.
//
// # Does not
//
// Know access keys, projects, HTTP servers or error vocabularies: the
// broker's door (httpapi) parses the Authorization header, looks up the
// secret, checks the date's skew and answers 401/403; this package only
// computes.
//
// # Invariants
//
//   - Signature(secret, date, CanonicalRequest(...)) equals what the
//     official signer puts in the Authorization header for the same request
//     (tested against the SDK in httpapi and cmd/raftmq).
//
// # Concurrency
//
// Pure functions; no package-level mutable state.
package sdkauth

package catalogue

import "errors"

// Sentinel errors of the catalogue. httpapi maps them to status codes and
// DMS error codes; match with errors.Is.
var (
	ErrQueueNotFound = errors.New("cluster: queue not found")
	ErrGroupNotFound = errors.New("cluster: consumer group not found")
	ErrQueueExists   = errors.New("cluster: queue name already exists")
	ErrGroupExists   = errors.New("cluster: group name already exists")
	ErrQueueQuota    = errors.New("cluster: queue quota reached")
	ErrGroupQuota    = errors.New("cluster: too many groups")
)

// ErrInvalidCommand matches an InvalidCommandError.
var ErrInvalidCommand = errors.New("cluster: invalid catalogue command")

// InvalidCommandError is a catalogue command that apply cannot act on: not
// JSON, an unknown operation, or a field missing or out of bounds. Such a
// command is refused before it is proposed; committed anyway, it is applied
// as a no-op.
type InvalidCommandError struct {
	Op     string // "" when the entry did not decode
	Reason string
}

func (e *InvalidCommandError) Error() string {
	if e.Op == "" {
		return "cluster: invalid catalogue command: " + e.Reason
	}
	return "cluster: invalid catalogue command " + e.Op + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidCommand) true.
func (e *InvalidCommandError) Is(target error) bool { return target == ErrInvalidCommand }

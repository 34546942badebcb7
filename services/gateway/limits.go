package gateway

// Limits on a CloudEvent's attributes, enforced at the door on HTTP and NATS
// alike (docs/security.md). They keep every event, its rejection and its DLQ
// letter well inside JetStream's 64 KiB header limit and bound what one
// account's ids can cost in memory, disk and logs.
const (
	// MaxIDBytes bounds the id attribute.
	MaxIDBytes = 256
	// MaxAttributeBytes bounds source, type, subject and each extension value.
	MaxAttributeBytes = 1024
	// MaxAttributesBytes bounds all attributes together, names and values.
	MaxAttributesBytes = 8192
)

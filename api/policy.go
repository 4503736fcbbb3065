package api

import "time"

// PolicyStatus describes the active policy revision and the last one refused.
type PolicyStatus struct {
	// Revision stamps every audit event decided under it.
	Revision    string    `json:"revision"`
	Source      string    `json:"source,omitempty"`
	ActivatedAt time.Time `json:"activatedAt"`
	// LastError is why the most recent refused revision was refused; the active revision
	// stayed in force.
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	Activations int64     `json:"activations"`
	Rejections  int64     `json:"rejections"`
	// BundleLoaded is false while a configured bundle has not yet been activated.
	BundleLoaded bool `json:"bundleLoaded"`
}

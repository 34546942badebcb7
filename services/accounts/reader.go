package accounts

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/crossdock/crossdock/gs1"
)

// Reader is an RFID reader (or a reader's antenna group) an account
// configures under readers: in the accounts file. A batch of reads whose
// reader is configured must come from the reader's read point, and gets the
// reader's business step, disposition and dedupe window; readers that are not
// configured are accepted at any of the account's locations with bizStep
// observing (issue 4, CONTRACT.md section 2).
type Reader struct {
	ID          string   `yaml:"id" json:"id"`
	Location    string   `yaml:"location" json:"location"`                     // GLN of one of the account's locations
	ReadPoint   string   `yaml:"read_point" json:"read_point"`                 // that GLN, or an SGLN URI of it (with an extension naming the dock, shelf, …)
	BizStep     string   `yaml:"biz_step" json:"biz_step,omitempty"`           // CBV business step word or URI; empty means observing
	Disposition string   `yaml:"disposition" json:"disposition,omitempty"`     // CBV disposition word or URI; empty means none
	Dedupe      Duration `yaml:"dedupe_window" json:"dedupe_window,omitempty"` // zero means the policy's rfid_dedupe_window
}

// Reader returns the account's configured reader with this id.
func (a *Account) Reader(id string) (Reader, bool) {
	for _, r := range a.Readers {
		if r.ID == id {
			return r, true
		}
	}
	return Reader{}, false
}

var (
	// cbvWord is a bare CBV 2.0 vocabulary word (EPCIS 2.0 JSON-LD maps it
	// to its https://ref.gs1.org/cbv/ URI).
	cbvWord = regexp.MustCompile(`^[a-z][a-z_]*$`)
	// absURI is an absolute URI: a scheme, a colon and something.
	absURI = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$`)
	// sglnURI is an SGLN pure identity URI: company prefix, location
	// reference (12 digits together) and an extension ("0" for none).
	sglnURI = regexp.MustCompile(`^urn:epc:id:sgln:([0-9]{6,12})\.([0-9]{0,6})\.([!-~]+)$`)
)

// ReadPointGLN returns the GLN of a read point given as a GLN or as an SGLN
// pure identity URI (urn:epc:id:sgln:<company prefix>.<location ref>.<ext>,
// TDS §6.3.3: the GLN is the 12 digits with their check digit appended).
func ReadPointGLN(readPoint string) (string, error) {
	if m := sglnURI.FindStringSubmatch(readPoint); m != nil {
		body := m[1] + m[2]
		if len(body) != 12 {
			return "", fmt.Errorf("read point %q: company prefix and location reference must have 12 digits together", readPoint)
		}
		return gs1.Complete(body), nil
	}
	if err := gs1.CheckGLN(readPoint); err != nil {
		return "", fmt.Errorf("read point %q is neither an SGLN URI nor a GLN: %w", readPoint, err)
	}
	return readPoint, nil
}

// checkReaders checks an account's reader configuration: unique ids, a
// location of the account, a read point at that location, CBV words or URIs,
// a non-negative window.
func checkReaders(a *Account) error {
	seen := map[string]bool{}
	for i, r := range a.Readers {
		at := fmt.Sprintf("readers[%d]", i)
		if r.ID == "" || len(r.ID) > 64 {
			return fmt.Errorf("%s.id %q: want 1 to 64 characters", at, r.ID)
		}
		if seen[r.ID] {
			return fmt.Errorf("%s.id %q: named twice", at, r.ID)
		}
		seen[r.ID] = true
		if _, ok := a.Location(r.Location); !ok {
			return fmt.Errorf("%s.location %q: not a location of the account", at, r.Location)
		}
		gln, err := ReadPointGLN(r.ReadPoint)
		if err != nil {
			return fmt.Errorf("%s.read_point: %w", at, err)
		}
		if gln != r.Location {
			return fmt.Errorf("%s.read_point %q: is at GLN %s, not at the reader's location %s", at, r.ReadPoint, gln, r.Location)
		}
		for key, v := range map[string]string{"biz_step": r.BizStep, "disposition": r.Disposition} {
			if v != "" && !cbvWord.MatchString(v) && !absURI.MatchString(v) {
				return fmt.Errorf("%s.%s %q: want a CBV word (e.g. receiving) or a URI", at, key, v)
			}
		}
		if r.Dedupe < 0 || time.Duration(r.Dedupe) > 24*time.Hour {
			return fmt.Errorf("%s.dedupe_window %s: want 0 to 24h", at, r.Dedupe)
		}
		if strings.TrimSpace(r.ID) != r.ID {
			return fmt.Errorf("%s.id %q: no leading or trailing spaces", at, r.ID)
		}
	}
	return nil
}

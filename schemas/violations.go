package schemas

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// violations flattens the tree of a failed validation of doc to one Violation
// per leaf, deduplicated and sorted by field.
func (v *Validator) violations(verr *jsonschema.ValidationError, doc any) []Violation {
	var out []Violation
	v.flatten(verr, doc, &out)
	if len(out) == 0 {
		// Not expected: every failure has a leaf. Say something rather than nothing.
		out = append(out, Violation{Message: "does not match the schema"})
	}
	sortViolations(out)
	return slices.Compact(out)
}

func (v *Validator) flatten(e *jsonschema.ValidationError, doc any, out *[]Violation) {
	kw := keyword(e.ErrorKind)
	if tmpl, ok := v.messages[e.SchemaURL][kw]; ok && kw != "" && kw != "required" && kw != "additionalProperties" {
		val, _ := lookup(doc, e.InstanceLocation)
		*out = append(*out, Violation{
			Field:   fieldName(doc, e.InstanceLocation),
			Message: strings.ReplaceAll(tmpl, "{value}", display(val)),
		})
		return
	}
	if len(e.Causes) > 0 {
		// Schema, Group, Reference, AllOf, AnyOf, OneOf and the like: the
		// leaves say what is wrong. An anyOf or oneOf whose branches need
		// explaining as a whole has an errorMessage in its schema.
		for _, c := range e.Causes {
			v.flatten(c, doc, out)
		}
		return
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, p := range k.Missing {
			*out = append(*out, Violation{
				Field:   fieldName(doc, append(slices.Clip(e.InstanceLocation), p)),
				Message: fmt.Sprintf("missing required field %s", strconv.Quote(p)),
			})
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			*out = append(*out, Violation{
				Field:   fieldName(doc, append(slices.Clip(e.InstanceLocation), p)),
				Message: fmt.Sprintf("unknown field %s", strconv.Quote(p)),
			})
		}
	default:
		val, _ := lookup(doc, e.InstanceLocation)
		*out = append(*out, Violation{
			Field:   fieldName(doc, e.InstanceLocation),
			Message: describe(e.ErrorKind, val),
		})
	}
}

// keyword returns the schema keyword that failed, "" for none.
func keyword(k jsonschema.ErrorKind) string {
	if _, ok := k.(*kind.Not); ok {
		return "not" // kind.Not has no keyword path
	}
	if p := k.KeywordPath(); len(p) > 0 {
		return p[0]
	}
	return ""
}

// describe says what is wrong with val for a leaf error of kind k.
func describe(k jsonschema.ErrorKind, val any) string {
	switch k := k.(type) {
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = article(w)
		}
		return fmt.Sprintf("must be %s, not %s", strings.Join(want, " or "), describeValue(val))
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = display(w)
		}
		if len(want) == 1 {
			return fmt.Sprintf("%s is not allowed: must be %s", display(val), want[0])
		}
		return fmt.Sprintf("%s is not allowed: must be one of %s", display(val), strings.Join(want, ", "))
	case *kind.Const:
		return fmt.Sprintf("%s is not allowed: must be %s", display(val), display(k.Want))
	case *kind.Format:
		name := formatNames[k.Want]
		if name == "" {
			name = k.Want
		}
		why := formatHints[k.Want]
		if why == "" {
			why = k.Err.Error()
		}
		return fmt.Sprintf("%s is not a valid %s: %s", display(val), name, why)
	case *kind.Pattern:
		return fmt.Sprintf("%s does not match the pattern %s", display(val), k.Want)
	case *kind.MinLength:
		if k.Want == 1 {
			return "must not be empty"
		}
		return fmt.Sprintf("must be at least %d characters long, not %d", k.Want, k.Got)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters long, not %d", k.Want, k.Got)
	case *kind.MinItems:
		if k.Want == 1 {
			return "must not be empty: give at least one entry"
		}
		return fmt.Sprintf("must have at least %d entries, not %d", k.Want, k.Got)
	case *kind.MaxItems:
		return fmt.Sprintf("must have at most %d entries, not %d", k.Want, k.Got)
	case *kind.Minimum:
		return fmt.Sprintf("must be at least %s, not %s", rat(k.Want), display(val))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("must be greater than %s, not %s", rat(k.Want), display(val))
	case *kind.Maximum:
		return fmt.Sprintf("must be at most %s, not %s", rat(k.Want), display(val))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("must be less than %s, not %s", rat(k.Want), display(val))
	case *kind.MultipleOf:
		return fmt.Sprintf("must be a multiple of %s, not %s", rat(k.Want), display(val))
	case *kind.OneOf:
		return "matches more than one of the allowed forms"
	case *kind.Not, *kind.FalseSchema:
		return fmt.Sprintf("%s is not allowed here", display(val))
	}
	return fmt.Sprintf("%s breaks the schema's %q rule", display(val), keyword(k))
}

func article(jsonType string) string {
	switch jsonType {
	case "integer", "array", "object":
		return "an " + jsonType
	case "null":
		return "null"
	}
	return "a " + jsonType
}

func rat(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// maxShown bounds how much of a value a message quotes.
const maxShown = 64

// display renders a primitive JSON value for a message.
func display(val any) string {
	switch val := val.(type) {
	case string:
		if utf8.RuneCountInString(val) > maxShown {
			val = string([]rune(val)[:maxShown]) + "…"
		}
		return strconv.Quote(val)
	case json.Number:
		if len(val) > maxShown {
			return string(val[:maxShown]) + "…"
		}
		return string(val)
	case nil:
		return "null"
	case map[string]any:
		return "the object"
	case []any:
		return "the array"
	}
	return fmt.Sprint(val)
}

// describeValue names the JSON type of val along with the value itself.
func describeValue(val any) string {
	switch val.(type) {
	case string:
		return "the string " + display(val)
	case json.Number:
		return "the number " + display(val)
	case bool:
		return display(val)
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return display(val)
}

// lookup returns the value of doc at the JSON pointer tokens loc.
func lookup(doc any, loc []string) (any, bool) {
	for _, tok := range loc {
		switch d := doc.(type) {
		case map[string]any:
			var ok bool
			if doc, ok = d[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(d) {
				return nil, false
			}
			doc = d[i]
		default:
			return nil, false
		}
	}
	return doc, true
}

// fieldName turns the instance location loc in doc into a field name such as
// lines[2].gtin. A token is an index where doc has an array; a property name
// that would not read as one (or would read as an index) is written ["like this"].
func fieldName(doc any, loc []string) string {
	var b strings.Builder
	for _, tok := range loc {
		if arr, ok := doc.([]any); ok {
			b.WriteString("[")
			b.WriteString(tok)
			b.WriteString("]")
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(arr) {
				doc = arr[i]
			} else {
				doc = nil
			}
			continue
		}
		if obj, ok := doc.(map[string]any); ok {
			doc = obj[tok]
		} else {
			doc = nil
		}
		if plainName(tok) {
			if b.Len() > 0 {
				b.WriteString(".")
			}
			b.WriteString(tok)
		} else {
			b.WriteString("[")
			b.WriteString(strconv.Quote(tok))
			b.WriteString("]")
		}
	}
	return b.String()
}

func plainName(s string) bool {
	if s == "" || isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || c == '@' || c == '$' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// sortViolations sorts by field, reading runs of digits as numbers so that
// lines[2] comes before lines[10], then by message.
func sortViolations(vs []Violation) {
	slices.SortFunc(vs, func(a, b Violation) int {
		if c := naturalCompare(a.Field, b.Field); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
}

func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			da, db := digitRun(a), digitRun(b)
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := len(na) - len(nb); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digitRun(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// uniqueLines checks that the line numbers of an order's lines are unique. It
// runs after the schema passed, so the shape is known.
func uniqueLines(doc any) []Violation {
	lines, _ := doc.(map[string]any)["lines"].([]any)
	return unique(lines, "lines", "line", number, func(_ any, n string) string {
		return "duplicate line number " + n
	})
}

// uniqueGTINs checks that an inventory report names each GTIN once. GTINs
// are compared as GTIN-14, so 614141123452 and 00614141123452 are the same
// item.
func uniqueGTINs(doc any) []Violation {
	items, _ := doc.(map[string]any)["items"].([]any)
	return unique(items, "items", "gtin", func(v any) string {
		s, _ := v.(string)
		if len(s) < 14 {
			return "00000000000000"[len(s):] + s
		}
		return s
	}, func(gtin any, _ string) string {
		s, _ := gtin.(string)
		return "duplicate GTIN " + s
	})
}

// unique reports every element of arr, an array of objects, whose field has a
// key already seen in an earlier element; msg words the report.
func unique(arr []any, arrName, field string, key func(any) string, msg func(val any, key string) string) []Violation {
	var out []Violation
	seen := make(map[string]struct{}, len(arr))
	for i, el := range arr {
		obj, _ := el.(map[string]any)
		val, ok := obj[field]
		if !ok {
			continue
		}
		k := key(val)
		if _, dup := seen[k]; dup {
			out = append(out, Violation{Field: arrName + "[" + strconv.Itoa(i) + "]." + field, Message: msg(val, k)})
			continue
		}
		seen[k] = struct{}{}
	}
	return out
}

// number returns the canonical decimal form of a JSON number, so that 7 and
// 7.0 compare equal.
func number(v any) string {
	n, _ := v.(json.Number)
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return strconv.FormatInt(i, 10)
	}
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return string(n)
	}
	return rat(r)
}

// Bounds on JSON numbers: far beyond float64 and int64, far within what
// math/big handles quickly.
const (
	maxNumberLen      = 100
	maxNumberExponent = 400
)

// numberInRange reports whether the JSON number n is at most maxNumberLen
// characters long with an exponent of at most maxNumberExponent either way.
func numberInRange(n json.Number) bool {
	if len(n) > maxNumberLen {
		return false
	}
	i := strings.IndexAny(string(n), "eE")
	if i < 0 {
		return true
	}
	exp := strings.TrimLeft(string(n[i+1:]), "+-")
	e, err := strconv.Atoi(exp)
	return err == nil && e <= maxNumberExponent
}

// numbersInRange reports whether every number in doc is in range.
func numbersInRange(doc any) bool {
	switch d := doc.(type) {
	case json.Number:
		return numberInRange(d)
	case map[string]any:
		for _, x := range d {
			if !numbersInRange(x) {
				return false
			}
		}
	case []any:
		for _, x := range d {
			if !numbersInRange(x) {
				return false
			}
		}
	}
	return true
}

// numberViolations reports every number out of range in v, found at loc in
// root.
func numberViolations(root, v any, loc []string, out []Violation) []Violation {
	switch d := v.(type) {
	case json.Number:
		if !numberInRange(d) {
			out = append(out, Violation{
				Field:   fieldName(root, loc),
				Message: fmt.Sprintf("the number %s is out of range: use at most %d characters and an exponent between -%d and %d", display(d), maxNumberLen, maxNumberExponent, maxNumberExponent),
			})
		}
	case map[string]any:
		for k, x := range d {
			out = numberViolations(root, x, append(slices.Clip(loc), k), out)
		}
	case []any:
		for i, x := range d {
			out = numberViolations(root, x, append(slices.Clip(loc), strconv.Itoa(i)), out)
		}
	}
	return out
}

// uniqueForecastLines reports a location and item forecast twice in one
// forecast, and a week named twice in one line: either would leave which
// quantity counts to chance.
func uniqueForecastLines(doc any) []Violation {
	lines, _ := doc.(map[string]any)["lines"].([]any)
	var out []Violation
	seen := make(map[string]struct{}, len(lines))
	for i, el := range lines {
		line, _ := el.(map[string]any)
		gln, _ := line["location"].(string)
		gtin, _ := line["gtin"].(string)
		if len(gtin) < 14 {
			gtin = "00000000000000"[len(gtin):] + gtin
		}
		k := gln + "/" + gtin
		if _, dup := seen[k]; dup {
			out = append(out, Violation{Field: "lines[" + strconv.Itoa(i) + "]", Message: "location " + gln + " and item " + gtin + " are forecast twice"})
		}
		seen[k] = struct{}{}
		weeks, _ := line["weeks"].([]any)
		out = append(out, unique(weeks, "lines["+strconv.Itoa(i)+"].weeks", "week", func(v any) string {
			s, _ := v.(string)
			return s
		}, func(week any, _ string) string {
			s, _ := week.(string)
			return "week " + s + " appears twice"
		})...)
	}
	return out
}

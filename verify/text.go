package verify

import (
	"fmt"
	"io"
	"strings"

	"github.com/imgsign/imgsign/internal/safetext"
)

// WriteText prints the report for a person: one headline per image, then
// each requirement with the keys that counted or why each candidate did not.
// Every string is printed through safetext: key hints, tags, reasons and
// registry errors carry text nobody signed. Machine codes follow the text
// they stand for, in brackets ([rolled-back]), where a requirement or a
// candidate failed; greps and people both find them there.
func (r *Report) WriteText(w io.Writer) {
	for i, img := range r.Images {
		if i > 0 {
			fmt.Fprintln(w)
		}
		img.writeText(w)
	}
}

func (img *ImageResult) writeText(w io.Writer) {
	verdict := strings.ToUpper(img.Verdict)
	if !img.Enforced && img.Verdict == VerdictFail {
		verdict += " (audit mode: not enforced)"
	}
	name := img.Reference
	if name == "" {
		name = img.Image
	}
	safetext.Fprintf(w, "%s  %s\n", verdict, name)
	if img.Canonical != "" {
		safetext.Fprintf(w, "  mirror of: %s", img.Canonical)
		if mm := img.MirrorMapping; mm != nil {
			safetext.Fprintf(w, " (mirrors: %s → %s)", mm.Mirror, mm.Canonical)
		}
		safetext.Fprintf(w, "\n")
	}
	if img.Policy != "" {
		if img.MatchReason != "" {
			safetext.Fprintf(w, "  policy: %s (%s), %s\n", img.Policy, img.Mode, img.MatchReason)
		} else {
			safetext.Fprintf(w, "  policy: %s (%s)\n", img.Policy, img.Mode)
		}
	}
	if img.Error != "" {
		safetext.Fprintf(w, "  error: %s%s\n", img.Error, tag(img.ErrorCode))
		return
	}
	for _, rq := range img.Requirements {
		mark := "✓"
		if !rq.Satisfied {
			mark = "✗"
		}
		label := rq.label()
		code := Code("")
		if !rq.Satisfied {
			code = rq.Code
		}
		safetext.Fprintf(w, "  %s %s: %s%s\n", mark, label, rq.Summary, tag(code))
		if rq.BindTag {
			tags := strings.Join(rq.SignedTags, ", ")
			if tags == "" {
				tags = "(none: no trusted signature binds a tag)"
			}
			safetext.Fprintf(w, "      tags: %s\n", tags)
		}
		if rq.Kind == "compliance" {
			for _, rj := range rq.Rejected {
				safetext.Fprintf(w, "      no   %s\n", rj.Reason)
			}
			continue
		}
		for _, a := range rq.Accepted {
			safetext.Fprintf(w, "      ok   %s (%s) referrer %s%s%s\n", a.KeyName, short(a.KeyID), short(a.Referrer), formatted(a.Format), timestamped(a))
			if id := a.Identity; id != nil {
				safetext.Fprintf(w, "           certificate for %s, issuer %s%s\n", id.Subject, id.Issuer, claims(id))
			}
			if c := a.Certificate; c != nil {
				safetext.Fprintf(w, "           certificate %s, issuer %s, %s\n", c.Subject, c.Issuer, c.SigningScheme)
			}
			for _, e := range a.LogEntries {
				safetext.Fprintf(w, "           log entry %s\n", e)
			}
			for _, warn := range a.Warnings {
				safetext.Fprintf(w, "           warning: %s\n", warn)
			}
		}
		for _, a := range rq.AlsoSigned {
			safetext.Fprintf(w, "      also %s (%s) referrer %s: key %s already counted: a threshold counts distinct policy keys\n", a.KeyName, short(a.KeyID), short(a.Referrer), a.KeyName)
		}
		for _, rj := range rq.Rejected {
			who := "unknown key"
			switch {
			case rj.byCertificate && rj.KeyName == "":
				who = "a certificate"
			case rj.KeyName != "":
				who = safetext.Sprintf("%s (%s)", rj.KeyName, short(rj.KeyID))
			case rj.KeyID != "":
				who = "key id " + short(rj.KeyID)
			}
			safetext.Fprintf(w, "      no   %s referrer %s%s: %s%s\n", who, short(rj.Referrer), formatted(rj.Format), rj.Reason, tag(rj.Code))
		}
	}
	if img.Verdict == VerdictFail && img.Attachments == 0 {
		safetext.Fprintf(w, "  nothing is attached to %s: it was never signed, or the tag now points at another image\n", img.Digest)
	}
}

// formatted names a signature's format in text, where it is not the
// common case (imgsign's and cosign's Sigstore bundles).
func formatted(format string) string {
	if format == "" || format == FormatSigstoreBundle {
		return ""
	}
	return " [" + format + "]"
}

// label names a requirement as text shows it.
func (rq *RequirementResult) label() string {
	switch rq.Kind {
	case "attestation":
		return "attestation " + rq.PredicateType
	case "compliance":
		return "compliance " + rq.Check
	}
	return "signatures"
}

// Reason is the verdict's why on one line, for a reader with no room for
// the report (an admission denial, a log): the error, or each unmet
// requirement's summary. Empty for a pass.
func (img *ImageResult) Reason() string {
	if img.Verdict == VerdictPass {
		return ""
	}
	if img.Error != "" {
		return safetext.Clean(img.Error) + tag(img.ErrorCode)
	}
	var unmet []string
	for _, rq := range img.Requirements {
		if !rq.Satisfied {
			unmet = append(unmet, safetext.Clean(rq.label()+": "+rq.Summary)+tag(rq.Code))
		}
	}
	if img.Attachments == 0 {
		unmet = append(unmet, "nothing is attached to "+img.Digest+": it was never signed, or the tag now points at another image")
	}
	return strings.Join(unmet, "; ")
}

// tag is a machine code as text shows it, after a space; "" for none.
func tag(c Code) string {
	if c == "" {
		return ""
	}
	return " [" + string(c) + "]"
}

// timestamped says when a trusted timestamp dated the signature.
func timestamped(a *KeyUse) string {
	if a.SignedAt == "" {
		return ""
	}
	if log, ok := strings.CutPrefix(a.TimeSource, timeSourceTlog); ok {
		return ", logged " + a.SignedAt + " in " + log
	}
	return ", timestamped " + a.SignedAt + " by " + strings.TrimPrefix(a.TimeSource, timeSourceRFC3161)
}

// short abbreviates digests and key ids for the eye; JSON keeps them whole.
func short(s string) string {
	if strings.HasPrefix(s, "sha256:") && len(s) > 19 {
		return s[:19] + "…"
	}
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// claims lists a certificate's CI claims that are set, for the eye.
func claims(id *CertIdentity) string {
	var out []string
	for _, c := range []struct{ name, v string }{
		{"repository", id.SourceRepository}, {"ref", id.SourceRef}, {"commit", id.SourceDigest},
		{"workflow", id.BuildSignerURI}, {"runner", id.RunnerEnvironment}, {"event", id.Event},
	} {
		if c.v != "" {
			out = append(out, c.name+" "+c.v)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "; " + strings.Join(out, ", ")
}

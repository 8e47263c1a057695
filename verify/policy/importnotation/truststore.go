package importnotation

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
)

// maxCertFileBytes bounds each trust store file read (a CA bundle of a few
// hundred certificates is well below it).
const maxCertFileBytes = 4 << 20

// store is one notation trust store, read.
type store struct {
	typ, name   string
	imgsignName string // its trustStores entry: "TYPE-NAME"
	files       []certFile
	used        bool // named by a mapped statement
}

// certFile is one file of a trust store and the certificates it holds.
type certFile struct {
	outName string // the copy's file name
	certs   []*x509.Certificate
}

func (f certFile) pem() []byte {
	var b bytes.Buffer
	for _, c := range f.certs {
		b.Write(pemOf(c))
	}
	return b.Bytes()
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// store returns the trust store ref ("type:name", as a statement names it),
// reading it the first time: notation-go's truststore rules.
func (im *importer) store(statement, ref string) (*store, error) {
	if s, ok := im.stores[ref]; ok {
		return s, nil
	}
	typ, name, _ := strings.Cut(ref, ":") // Validate checked the form
	s := &store{typ: typ, name: name, imgsignName: storeName(typ, name)}
	var err error
	s.files, err = readStore(im.o.TrustStore, typ, name, statement)
	if err != nil {
		return nil, err
	}
	im.stores[ref] = s
	im.storeOrder = append(im.storeOrder, ref)
	return s, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// storeName is the imgsign trustStores name of a notation store: "TYPE-NAME"
// with anything but [A-Za-z0-9_.-] made "-" (notation's names have none).
func storeName(typ, name string) string {
	return unsafeName.ReplaceAllString(typ+"-"+name, "-")
}

// readStore reads DIR/x509/TYPE/NAME as notation-go's truststore does: a
// real directory (no symlink) of regular files only, each PEM or DER
// certificates, every one a CA or self-signed, and in a tsa store a
// self-signed root; and at least one certificate.
func readStore(root, typ, name, statement string) ([]certFile, error) {
	dir := filepath.Join(root, "x509", typ, name)
	shown := safetext.Clean(dir)
	fix := fmt.Sprintf("add its certificates with `notation cert add --type %s --store %s FILE`, or point --trust-store at notation's trust store directory (the one holding x509/)", typ, name)
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, errkind.Inputf("%s: trust store %q (type %s) that statement %q names does not exist: %s", shown, name, typ, statement, fix)
	case err != nil:
		return nil, errkind.Inputf("trust store %q (type %s): %v", name, typ, err)
	case fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir():
		return nil, errkind.Inputf("%s: trust store %q (type %s) is not a directory (notation follows no symlink there): make it a directory holding the certificate files", shown, name, typ)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, errkind.Inputf("trust store %q (type %s): %v", name, typ, err)
	}
	var files []certFile
	used := map[string]bool{}
	n := 0
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		ps := safetext.Clean(p)
		if !e.Type().IsRegular() {
			return nil, errkind.Inputf("%s: not a regular file (notation accepts no directories or symlinks in a trust store): replace it by the certificate file itself, or move it out", ps)
		}
		data, err := boundedfile.Read(p, maxCertFileBytes)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, errkind.Inputf("%s: %v", ps, err)
		}
		certs, err := parseCertificates(data)
		if err != nil {
			return nil, errkind.Inputf("%s: not a PEM or DER certificate file (%v): notation reads every file in a trust store, so remove it or replace it by the certificate", ps, err)
		}
		if err := truststore.ValidateCertificates(certs); err != nil {
			return nil, errkind.Inputf("%s: %v: a %s trust store holds only CA or self-signed certificates (as notation requires); add the CA certificate that issued it instead", ps, err, typ)
		}
		if typ == string(truststore.TypeTSA) {
			for _, c := range certs {
				if err := isRootCACertificate(c); err != nil {
					return nil, errkind.Inputf("%s: %v: a tsa trust store holds only the self-signed root certificates of timestamp authorities (as notation requires)", ps, err)
				}
			}
		}
		n += len(certs)
		files = append(files, certFile{outName: copyName(e.Name(), used), certs: certs})
	}
	if n == 0 {
		return nil, errkind.Inputf("%s: trust store %q (type %s) that statement %q names holds no certificates: %s", shown, name, typ, statement, fix)
	}
	return files, nil
}

// parseCertificates is notation-core-go's x509.ReadCertificateFile on bytes
// already read: PEM (every block a certificate) or else DER.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return x509.ParseCertificates(data)
	}
	var certs []*x509.Certificate
	for block != nil {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
		block, rest = pem.Decode(rest)
	}
	return certs, nil
}

// isRootCACertificate is notation-go's check of a tsa store certificate:
// self-signed, issuer equal to subject.
func isRootCACertificate(c *x509.Certificate) error {
	if err := c.CheckSignatureFrom(c); err != nil {
		return fmt.Errorf("certificate with subject %q is not a root CA certificate: %w", c.Subject, err)
	}
	if !bytes.Equal(c.RawSubject, c.RawIssuer) {
		return fmt.Errorf("certificate with subject %q is not a root CA certificate: issuer (%s) and subject (%s) are not the same", c.Subject, c.Issuer, c.Subject)
	}
	return nil
}

var plainFileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// copyName is the name of a trust store file's copy: the file's own name
// when it is plain, else one made plain; unique within the store.
func copyName(name string, used map[string]bool) string {
	n := name
	if !plainFileName.MatchString(n) {
		n = "cert-" + strings.Trim(unsafeName.ReplaceAllString(name, "_"), ".")
		if n == "cert-" {
			n = "cert"
		}
	}
	base := n
	for i := 2; used[n]; i++ {
		n = fmt.Sprintf("%s-%d", base, i)
	}
	used[n] = true
	return n
}

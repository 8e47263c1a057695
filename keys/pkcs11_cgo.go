//go:build cgo

package keys

// PKCS#11 keys through github.com/ThalesIgnite/crypto11, the library cosign
// uses, over github.com/miekg/pkcs11 (cgo: PKCS#11 modules are C shared
// libraries loaded with dlopen).
//
// Lifetime: a PKCS#11 module is initialised once per process and a token's
// login state is per process too, so this file keeps one crypto11.Context
// per (module, slot) and shares it. LoadPKCS11Public and GeneratePKCS11
// close the context when they are done unless a Signer uses it; a Signer
// keeps its context open until ClosePKCS11 or the process exits (the token
// logs the process out when it goes away; SoftHSM2 writes objects at
// creation, so nothing is lost by not closing).
//
// Ed25519: crypto11 knows only RSA, ECDSA and DSA key objects, so
// CKK_EC_EDWARDS keys are generated, found and used with miekg/pkcs11
// directly, on short-lived sessions opened with this file's own handle on
// the module (pk11.modules) next to the crypto11.Context of the same token.
// Both handles are dlopen handles on the one library, so they share its
// initialisation and login state: while the crypto11.Context is open (its
// persistent session keeps the module initialised and the token logged
// in), a session opened through the raw handle is logged in too, and
// closing it never logs the token out, as it is never the last session.
// crypto11 still does the key lookup; only when it fails on an Edwards key
// does the raw lookup take over (see findKey).

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/ThalesIgnite/crypto11"
	"github.com/miekg/pkcs11"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/imgsign/imgsign/internal/errkind"
)

// LoadPKCS11Signer returns a Signer for the key pair a pkcs11: URI names.
// The PIN comes from the URI (pin-source=FILE; pin-value with a warning on
// stderr), IMGSIGN_PKCS11_PIN, or a no-echo prompt on stderr. The token
// context stays open for the Signer's use until ClosePKCS11 or process exit.
func LoadPKCS11Signer(ctx context.Context, ref string, stderr io.Writer) (*Signer, error) {
	u, err := parsePKCS11URI(ref)
	if err != nil {
		return nil, err
	}
	if t, ok := u.attr("type"); ok && t != "private" {
		return nil, errkind.Inputf("PKCS#11 URI has type=%s: a signing key is a private key (type=private, or leave type out)", t)
	}
	if err := u.needObject(); err != nil {
		return nil, err
	}
	c, err := pk11Acquire(ctx, u, defaultPINPrompt(stderr))
	if err != nil {
		return nil, err
	}
	defer pk11Release(c)
	key, err := c.findKey(u)
	if err != nil {
		return nil, err
	}
	sv, err := newPKCS11SignerVerifier(key, fmt.Sprintf("%s on token %q", u.describeObject(), c.token))
	if err != nil {
		return nil, err
	}
	s, err := NewSigner(sv)
	if err != nil {
		return nil, err
	}
	pk11Keep(c)
	return s, nil
}

// LoadPKCS11Public returns the public key of the key pair a pkcs11: URI
// names. Reading it needs a login, as private objects are only listed to a
// logged-in user.
func LoadPKCS11Public(ctx context.Context, ref string, stderr io.Writer) (crypto.PublicKey, error) {
	u, err := parsePKCS11URI(ref)
	if err != nil {
		return nil, err
	}
	if t, ok := u.attr("type"); ok && t != "private" && t != "public" {
		return nil, errkind.Inputf("PKCS#11 URI has type=%s: imgsign reads key pairs (type=private or type=public)", t)
	}
	if err := u.needObject(); err != nil {
		return nil, err
	}
	c, err := pk11Acquire(ctx, u, defaultPINPrompt(stderr))
	if err != nil {
		return nil, err
	}
	defer pk11Release(c)
	key, err := c.findKey(u)
	if err != nil {
		return nil, err
	}
	pub := key.Public()
	if _, err := algorithmFor(pub); err != nil {
		return nil, fmt.Errorf("PKCS#11 key %s on token %q: %w", u.describeObject(), c.token, err)
	}
	return pub, nil
}

// GeneratePKCS11 creates a key pair of type t on the token, labelled with
// the URI's object (CKA_LABEL) and given its id (CKA_ID), or a random
// 16-byte id when the URI has none, and returns the public key. The private
// key is sensitive, not extractable, and may only sign. An existing key with
// the same label or id is an error rather than a second, ambiguous key.
func GeneratePKCS11(ctx context.Context, ref string, t Type, stderr io.Writer) (crypto.PublicKey, error) {
	u, err := parsePKCS11URI(ref)
	if err != nil {
		return nil, err
	}
	if typ, ok := u.attr("type"); ok && typ != "private" && typ != "public" {
		return nil, errkind.Inputf("PKCS#11 URI has type=%s: keys generate makes a key pair (type=private, or leave type out)", typ)
	}
	if _, ok := u.attr("object"); !ok {
		// A label is how people and pkcs11-tool find keys again; an
		// id alone is easy to lose.
		return nil, errkind.Inputf("PKCS#11 URI for a new key needs object=LABEL (and optionally id=%%01)")
	}
	var (
		curve elliptic.Curve
		bits  int
	)
	if t != TypeEd25519 {
		if curve, bits, err = pkcs11KeySpec(t); err != nil {
			return nil, err
		}
	}
	c, err := pk11Acquire(ctx, u, defaultPINPrompt(stderr))
	if err != nil {
		return nil, err
	}
	defer pk11Release(c)
	label, id := u.object()
	if err := c.refuseExisting(u, label, id); err != nil {
		return nil, err
	}
	if id == nil {
		id = make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return nil, fmt.Errorf("generating a CKA_ID: %w", err)
		}
	}
	pubAttrs, privAttrs, err := keygenAttributes(id, label)
	if err != nil {
		return nil, err
	}
	var pub crypto.PublicKey
	switch {
	case t == TypeEd25519:
		pub, err = c.generateEd25519(pubAttrs, privAttrs, u.describeObject())
	case bits != 0:
		var key crypto11.Signer
		if key, err = c.ctx.GenerateRSAKeyPairWithAttributes(pubAttrs, privAttrs, bits); err == nil {
			pub = key.Public()
		}
	default:
		var key crypto11.Signer
		if key, err = c.ctx.GenerateECDSAKeyPairWithAttributes(pubAttrs, privAttrs, curve); err == nil {
			pub = key.Public()
		}
	}
	if err != nil {
		if _, marked := errkind.Of(err); marked {
			return nil, err
		}
		var ckr pkcs11.Error
		if errors.As(err, &ckr) && (ckr == pkcs11.CKR_MECHANISM_INVALID || ckr == pkcs11.CKR_DOMAIN_PARAMS_INVALID ||
			ckr == pkcs11.CKR_TEMPLATE_INCONSISTENT || ckr == pkcs11.CKR_ATTRIBUTE_VALUE_INVALID || ckr == pkcs11.CKR_KEY_SIZE_RANGE) {
			return nil, errkind.Inputf("PKCS#11 token %q cannot generate a %s key: %w", c.token, t, err)
		}
		return nil, errkind.Operationalf("generating a %s key on PKCS#11 token %q: %w", t, c.token, err)
	}
	if err := CheckStrength(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// ClosePKCS11 logs out of every token this process opened and closes the
// sessions; Signers loaded from PKCS#11 stop working. Calling it is
// optional (process exit does the same) but lets a long-running program or
// a test release the token.
func ClosePKCS11() error {
	pk11.mu.Lock()
	defer pk11.mu.Unlock()
	var errs []error
	for k, c := range pk11.conns {
		if err := c.close(); err != nil {
			errs = append(errs, fmt.Errorf("closing PKCS#11 token %q: %w", c.token, err))
		}
		delete(pk11.conns, k)
	}
	return errors.Join(errs...)
}

// pkcs11KeySpec maps a key type crypto11 generates to an EC curve or an RSA
// size. Ed25519 is generated without crypto11 (generateEd25519).
func pkcs11KeySpec(t Type) (elliptic.Curve, int, error) {
	switch t {
	case TypeECDSAP256:
		return elliptic.P256(), 0, nil
	case TypeECDSAP384:
		return elliptic.P384(), 0, nil
	case TypeRSA3072:
		return nil, 3072, nil
	case TypeRSA4096:
		return nil, 4096, nil
	}
	return nil, 0, errkind.Inputf("unknown key type %q: use one of %s, %s, %s, %s, %s", string(t), TypeEd25519, TypeECDSAP256, TypeECDSAP384, TypeRSA3072, TypeRSA4096)
}

// keygenAttributes makes sign-only key templates. Left to themselves,
// crypto11 lets RSA keys decrypt and SoftHSM2 lets any private key decrypt,
// unwrap and derive, none of which a signing key should do.
func keygenAttributes(id, label []byte) (pub, priv crypto11.AttributeSet, err error) {
	pub = crypto11.NewAttributeSet()
	if err := pub.Set(crypto11.CkaId, id); err != nil {
		return nil, nil, err
	}
	if label != nil {
		if err := pub.Set(crypto11.CkaLabel, label); err != nil {
			return nil, nil, err
		}
	}
	priv = pub.Copy()
	set := func(a crypto11.AttributeSet, t crypto11.AttributeType, v bool) {
		if err == nil {
			err = a.Set(t, v)
		}
	}
	set(pub, crypto11.CkaVerify, true)
	set(priv, crypto11.CkaSign, true)
	set(priv, crypto11.CkaPrivate, true)
	set(priv, crypto11.CkaSensitive, true)
	set(priv, crypto11.CkaExtractable, false)
	for _, t := range []crypto11.AttributeType{crypto11.CkaEncrypt, crypto11.CkaWrap, crypto11.CkaDerive} {
		set(pub, t, false)
	}
	for _, t := range []crypto11.AttributeType{crypto11.CkaDecrypt, crypto11.CkaUnwrap, crypto11.CkaDerive} {
		set(priv, t, false)
	}
	return pub, priv, err
}

// pk11 is the process's PKCS#11 state, guarded by mu: every module
// initialisation, login and context open or close happens under it, because
// crypto11 reference-counts module initialisation in ways a concurrent
// discovery would upset.
var pk11 = struct {
	mu sync.Mutex
	// modules are handles used to list tokens and check PINs before
	// crypto11 gets involved. They are never unloaded: dlclose of a
	// module with library constructors (SoftHSM2 and OpenSSL) is not
	// safe to repeat, and a handle is all they cost.
	modules map[string]*pkcs11.Ctx
	conns   map[pk11Slot]*pk11Conn
}{modules: map[string]*pkcs11.Ctx{}, conns: map[pk11Slot]*pk11Conn{}}

type pk11Slot struct {
	module string
	slot   uint
}

// pk11Conn is one logged-in token.
type pk11Conn struct {
	slot   pk11Slot
	token  string // label, for messages
	ctx    *crypto11.Context
	pinSum [sha256.Size]byte
	hasPIN bool
	users  int  // calls in flight
	kept   bool // a Signer uses it

	// mod is pk11.modules[slot.module], for the Ed25519 operations
	// crypto11 cannot do (withSession). Those hold rw for reading and
	// fail once closed is set; close sets it holding rw for writing, so
	// it waits for them and none starts on a module that crypto11 is
	// about to finalise (where a later initialisation could reuse the
	// session and object handle numbers for other objects).
	mod    *pkcs11.Ctx
	rw     sync.RWMutex
	closed bool
}

// close ends c: raw sessions first, then the crypto11 context, which logs
// out and finalises the module if it is the last one. Callers hold pk11.mu.
func (c *pk11Conn) close() error {
	c.rw.Lock()
	c.closed = true
	c.rw.Unlock()
	return c.ctx.Close()
}

// withSession runs f on a session of its own on c's token, opened with the
// raw module handle and closed afterwards. The token is logged in already
// (by the crypto11.Context's persistent session, which also keeps this
// session from being the token's last, whose closing would log out).
// Sessions are not pooled: EdDSA signing is rare enough (a few signatures
// per command) that opening one per operation costs nothing noticeable and
// makes concurrent signing trivially safe, as a session runs one operation
// at a time.
func (c *pk11Conn) withSession(f func(sh pkcs11.SessionHandle) error) error {
	c.rw.RLock()
	defer c.rw.RUnlock()
	if c.closed {
		return errkind.Operationalf("PKCS#11 token %q is closed (ClosePKCS11 was called)", c.token)
	}
	sh, err := c.mod.OpenSession(c.slot.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return errkind.Operationalf("opening a session on PKCS#11 token %q: %w", c.token, err)
	}
	defer c.mod.CloseSession(sh)
	return f(sh)
}

// pk11Acquire returns the logged-in context for the token u selects,
// opening it if needed. Release it with pk11Release. A PIN prompt happens
// under pk11.mu, so concurrent loads wait for the user rather than prompting
// twice on one terminal.
func pk11Acquire(ctx context.Context, u *pkcs11URI, prompt pinPrompt) (*pk11Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	given, err := u.modulePath(prompt.lookupEnv)
	if err != nil {
		return nil, err
	}
	module, err := checkModuleFile(given)
	if err != nil {
		return nil, err
	}

	pk11.mu.Lock()
	defer pk11.mu.Unlock()
	mod := pk11.modules[module]
	if mod == nil {
		if mod = pkcs11.New(module); mod == nil {
			return nil, errkind.Inputf("%s is not a PKCS#11 module: it does not load or has no C_GetFunctionList (check module-path= or %s)", given, PKCS11ModuleEnv)
		}
		pk11.modules[module] = mod
	}
	// Initialise for discovery unless a crypto11 context has already; in
	// that case it must stay initialised, since Finalize would pull it
	// out from under that context.
	owner := false
	if err := mod.Initialize(); err == nil {
		owner = true
	} else if !isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return nil, errkind.Operationalf("initialising PKCS#11 module %s: %w", given, err)
	}
	finalize := func() {
		if owner {
			_ = mod.Finalize()
			owner = false
		}
	}
	defer finalize()

	slot, info, err := findToken(mod, given, u)
	if err != nil {
		return nil, err
	}
	key := pk11Slot{module: module, slot: slot}
	if c := pk11.conns[key]; c != nil {
		// The token is logged in for this whole process already, so a
		// login would prove nothing. A PIN given without asking must
		// still be the one that worked; prompting again would only
		// annoy.
		if c.hasPIN && u.hasPIN(prompt.lookupEnv) {
			pin, err := u.pin(info.Label, prompt)
			if err != nil {
				return nil, err
			}
			if sum := sha256.Sum256([]byte(pin)); subtle.ConstantTimeCompare(sum[:], c.pinSum[:]) != 1 {
				return nil, errWrongPIN(info.Label)
			}
		}
		c.users++
		return c, nil
	}

	loginRequired := info.Flags&pkcs11.CKF_LOGIN_REQUIRED != 0
	var pin string
	if loginRequired {
		if info.Flags&pkcs11.CKF_USER_PIN_LOCKED != 0 {
			return nil, errPINLocked(info.Label)
		}
		if pin, err = u.pin(info.Label, prompt); err != nil {
			return nil, err
		}
		// Checked here rather than left to crypto11.Configure: its
		// failure path finalises the module even while other contexts
		// use it, and its error loses the token's name.
		if err := checkLogin(mod, slot, info.Label, pin); err != nil {
			return nil, err
		}
	}
	// crypto11 initialises the module itself and fails if it already is.
	finalize()
	slotNum := int(slot)
	c11, err := crypto11.Configure(&crypto11.Config{
		Path:              module,
		SlotNumber:        &slotNum,
		Pin:               pin,
		LoginNotSupported: !loginRequired,
	})
	if err != nil {
		var ckr pkcs11.Error
		if errors.As(err, &ckr) && loginRequired {
			return nil, loginError(info.Label, ckr)
		}
		return nil, errkind.Operationalf("opening PKCS#11 token %q: %w", info.Label, err)
	}
	c := &pk11Conn{slot: key, token: info.Label, ctx: c11, mod: mod, users: 1, hasPIN: loginRequired, pinSum: sha256.Sum256([]byte(pin))}
	pk11.conns[key] = c
	return c, nil
}

// pk11Release ends a use of c, closing it if nothing else uses it.
func pk11Release(c *pk11Conn) {
	pk11.mu.Lock()
	defer pk11.mu.Unlock()
	c.users--
	if c.users > 0 || c.kept || pk11.conns[c.slot] != c {
		return
	}
	delete(pk11.conns, c.slot)
	// Nothing useful to do with an error from logging out and
	// finalising: the work asked for has been done.
	_ = c.close()
}

// pk11Keep keeps c open for a Signer.
func pk11Keep(c *pk11Conn) {
	pk11.mu.Lock()
	defer pk11.mu.Unlock()
	c.kept = true
}

// checkModuleFile checks that the module exists before dlopen, whose
// failure says nothing about why, and returns its absolute, symlink-free
// path: crypto11 counts initialisations per path string, so one module
// must always be named the same way.
func checkModuleFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", errkind.Inputf("PKCS#11 module %s does not exist: install SoftHSM2 (apt-get install softhsm2) or set module-path= in the URI (or %s) to your HSM's PKCS#11 library", path, PKCS11ModuleEnv)
	}
	if err != nil {
		return "", errkind.Inputf("PKCS#11 module %s: %w", path, unwrapPathErr(err))
	}
	if fi.IsDir() {
		return "", errkind.Inputf("PKCS#11 module %s is a directory: module-path= names the library file (.so)", path)
	}
	abs, err := filepath.Abs(path)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return "", errkind.Inputf("PKCS#11 module %s: %w", path, err)
	}
	return abs, nil
}

// findToken returns the one initialised token that matches every token,
// slot and library attribute of u.
func findToken(mod *pkcs11.Ctx, module string, u *pkcs11URI) (uint, pkcs11.TokenInfo, error) {
	if err := checkLibrary(mod, module, u); err != nil {
		return 0, pkcs11.TokenInfo{}, err
	}
	slots, err := mod.GetSlotList(true)
	if err != nil {
		return 0, pkcs11.TokenInfo{}, errkind.Operationalf("listing the slots of PKCS#11 module %s: %w", module, err)
	}
	var (
		found     []uint
		infos     []pkcs11.TokenInfo
		available []string
	)
	for _, s := range slots {
		ti, err := mod.GetTokenInfo(s)
		if err != nil {
			return 0, pkcs11.TokenInfo{}, errkind.Operationalf("reading token information of slot %d of PKCS#11 module %s: %w", s, module, err)
		}
		// SoftHSM2 always offers one empty token to initialise; it
		// is no candidate.
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		available = append(available, fmt.Sprintf("%q (slot-id %d)", ti.Label, s))
		ok, err := tokenMatches(mod, u, s, ti)
		if err != nil {
			return 0, pkcs11.TokenInfo{}, errkind.Operationalf("reading slot %d of PKCS#11 module %s: %w", s, module, err)
		}
		if ok {
			found = append(found, s)
			infos = append(infos, ti)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], infos[0], nil
	case len(available) == 0:
		return 0, pkcs11.TokenInfo{}, errkind.Inputf("PKCS#11 module %s has no initialised token (SoftHSM2: softhsm2-util --init-token --free --label NAME)", module)
	case len(found) == 0:
		return 0, pkcs11.TokenInfo{}, errkind.Inputf("no PKCS#11 token matches %s in module %s: available tokens: %s", u.describeToken(), module, strings.Join(available, ", "))
	}
	var names []string
	for i, s := range found {
		names = append(names, fmt.Sprintf("%q (slot-id %d, serial %s)", infos[i].Label, s, infos[i].SerialNumber))
	}
	return 0, pkcs11.TokenInfo{}, errkind.Inputf("%d PKCS#11 tokens match %s: add serial= or slot-id= to the URI to pick one of %s", len(found), u.describeToken(), strings.Join(names, ", "))
}

func tokenMatches(mod *pkcs11.Ctx, u *pkcs11URI, slot uint, ti pkcs11.TokenInfo) (bool, error) {
	if u.slotID != nil && *u.slotID != slot {
		return false, nil
	}
	for name, have := range map[string]string{"token": ti.Label, "serial": ti.SerialNumber, "manufacturer": ti.ManufacturerID, "model": ti.Model} {
		if want, ok := u.attr(name); ok && want != have {
			return false, nil
		}
	}
	wantDesc, d := u.attr("slot-description")
	wantManuf, m := u.attr("slot-manufacturer")
	if !d && !m {
		return true, nil
	}
	si, err := mod.GetSlotInfo(slot)
	if err != nil {
		return false, err
	}
	return (!d || wantDesc == si.SlotDescription) && (!m || wantManuf == si.ManufacturerID), nil
}

// checkLibrary refuses a module whose library-* attributes differ from the
// URI's: the URI was written for another vendor's library.
func checkLibrary(mod *pkcs11.Ctx, module string, u *pkcs11URI) error {
	wantManuf, m := u.attr("library-manufacturer")
	wantDesc, d := u.attr("library-description")
	if !m && !d && u.libMajor == nil {
		return nil
	}
	info, err := mod.GetInfo()
	if err != nil {
		return errkind.Operationalf("reading PKCS#11 module information of %s: %w", module, err)
	}
	if (m && wantManuf != info.ManufacturerID) || (d && wantDesc != info.LibraryDescription) ||
		(u.libMajor != nil && *u.libMajor != uint(info.LibraryVersion.Major)) ||
		(u.libMinor != nil && *u.libMinor != uint(info.LibraryVersion.Minor)) {
		return errkind.Inputf("PKCS#11 module %s is %q by %q version %d.%d, which does not match the URI's library-* attributes",
			module, info.LibraryDescription, info.ManufacturerID, info.LibraryVersion.Major, info.LibraryVersion.Minor)
	}
	return nil
}

// checkLogin logs in on a session of its own to check the PIN, and logs out
// again: crypto11.Configure logs in for real right after.
func checkLogin(mod *pkcs11.Ctx, slot uint, token, pin string) error {
	sh, err := mod.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return errkind.Operationalf("opening a session on PKCS#11 token %q: %w", token, err)
	}
	defer mod.CloseSession(sh)
	err = mod.Login(sh, pkcs11.CKU_USER, pin)
	if isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		// Something else in this process logged the token in; PKCS#11
		// offers no way to check a PIN then.
		return nil
	}
	if err != nil {
		var ckr pkcs11.Error
		if errors.As(err, &ckr) {
			return loginError(token, ckr)
		}
		return errkind.Operationalf("PKCS#11 login to token %q failed: %w", token, err)
	}
	_ = mod.Logout(sh)
	return nil
}

func loginError(token string, ckr pkcs11.Error) error {
	switch ckr {
	case pkcs11.CKR_PIN_INCORRECT:
		return errWrongPIN(token)
	case pkcs11.CKR_PIN_LEN_RANGE:
		return errkind.Inputf("PKCS#11 login to token %q failed: the PIN has the wrong length (CKR_PIN_LEN_RANGE)", token)
	case pkcs11.CKR_PIN_LOCKED:
		return errPINLocked(token)
	case pkcs11.CKR_PIN_EXPIRED:
		return errkind.Inputf("PKCS#11 login to token %q failed: the PIN has expired (CKR_PIN_EXPIRED): set a new one with the token's tools", token)
	case pkcs11.CKR_USER_PIN_NOT_INITIALIZED:
		return errkind.Inputf("PKCS#11 login to token %q failed: the token has no user PIN yet (CKR_USER_PIN_NOT_INITIALIZED): initialise it (SoftHSM2: softhsm2-util --init-token … --pin PIN)", token)
	}
	return errkind.Operationalf("PKCS#11 login to token %q failed: %w", token, ckr)
}

func errWrongPIN(token string) error {
	return errkind.Inputf("PKCS#11 login to token %q failed: wrong PIN (CKR_PIN_INCORRECT): check %s, the URI's pin-source file or the PIN typed", token, PKCS11PINEnv)
}

func errPINLocked(token string) error {
	return errkind.Inputf("PKCS#11 token %q: the user PIN is locked after too many wrong PINs (CKR_PIN_LOCKED): the security officer must unlock it", token)
}

// PKCS#11 3.0 constants for Edwards-curve keys, which miekg/pkcs11 v1.1.1
// predates.
const (
	ckkECEdwards           = 0x40   // CKK_EC_EDWARDS
	ckmECEdwardsKeyPairGen = 0x1055 // CKM_EC_EDWARDS_KEY_PAIR_GEN
	ckmEdDSA               = 0x1057 // CKM_EDDSA
)

// CKA_EC_PARAMS of an Ed25519 key may be, by PKCS#11 3.0, the curve's OID
// (id-Ed25519, RFC 8410) or its name as a PrintableString (what pkcs11-tool
// 0.23 writes). ed25519ECParams lists what generateEd25519 offers the token,
// in order; SoftHSM2 2.6.1 takes both.
var (
	oidEd25519      = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448        = asn1.ObjectIdentifier{1, 3, 101, 113}
	ed25519ECParams = [][]byte{
		{0x06, 0x03, 0x2b, 0x65, 0x70},                // OBJECT IDENTIFIER 1.3.101.112
		append([]byte{0x13, 0x0c}, "edwards25519"...), // PrintableString "edwards25519"
	}
)

func isCKR(err error, want uint) bool {
	var ckr pkcs11.Error
	return errors.As(err, &ckr) && uint(ckr) == want
}

// findKey returns the one key pair matching u's object and id: a
// crypto11.Signer for RSA and EC keys, a *pk11Ed25519Key for Ed25519.
//
// crypto11 does the lookup; it fails as a whole when a matching private key
// with a public key object is of a type it does not know, reporting
// CKK_EC_EDWARDS only as text. Only then does findEdwardsKey look again,
// pairing objects the way crypto11 does, so which keys match and when a URI
// is ambiguous is the same for every key type.
func (c *pk11Conn) findKey(u *pkcs11URI) (crypto.Signer, error) {
	label, id := u.object()
	found, err := c.ctx.FindKeyPairs(id, label)
	if err != nil {
		if isUnsupportedKeyType(err, ckkECEdwards) {
			return c.findEdwardsKey(u, err)
		}
		return nil, c.findError(u, err)
	}
	switch len(found) {
	case 0:
		return nil, c.errNoKeyPair(u)
	case 1:
		return found[0], nil
	}
	return nil, c.errAmbiguous(u, len(found))
}

func (c *pk11Conn) errNoKeyPair(u *pkcs11URI) error {
	return errkind.Inputf("PKCS#11 token %q has no key pair with %s (a private key with a CKA_ID and its public key object): list the token's keys with pkcs11-tool --module %s --token-label %q --login --list-objects",
		c.token, u.describeObject(), c.slot.module, c.token)
}

func (c *pk11Conn) errAmbiguous(u *pkcs11URI, n int) error {
	return errkind.Inputf("%d key pairs on PKCS#11 token %q match %s: add id= to the URI to pick one", n, c.token, u.describeObject())
}

// isUnsupportedKeyType reports whether err is crypto11's "unsupported key
// type: %X" for CKA_KEY_TYPE keyType; tests pin that text for the version
// in go.mod.
func isUnsupportedKeyType(err error, keyType uint) bool {
	return err.Error() == fmt.Sprintf("unsupported key type: %X", keyType)
}

// findError classifies crypto11's key lookup errors. crypto11 reports an
// unknown key type only as text, "unsupported key type: %X" of CKA_KEY_TYPE;
// tests pin that text for the version in go.mod.
func (c *pk11Conn) findError(u *pkcs11URI, err error) error {
	msg := err.Error()
	if t, ok := strings.CutPrefix(msg, "unsupported key type: "); ok {
		return errkind.Inputf("PKCS#11 key %s on token %q has key type 0x%s, which imgsign cannot sign with: use an Ed25519, EC P-256, EC P-384 or RSA key", u.describeObject(), c.token, t)
	}
	return errkind.Operationalf("looking up PKCS#11 key %s on token %q: %w", u.describeObject(), c.token, err)
}

// pk11Pair is a private key object and the public key object (or, for the
// key types crypto11 knows, certificate) that goes with it.
type pk11Pair struct {
	priv, pub pkcs11.ObjectHandle
	edwards   bool // CKK_EC_EDWARDS
}

// findEdwardsKey is findKey for when crypto11 has met an Edwards key; cause
// is crypto11's error.
func (c *pk11Conn) findEdwardsKey(u *pkcs11URI, cause error) (crypto.Signer, error) {
	label, id := u.object()
	var (
		pairs []pk11Pair
		pub   ed25519.PublicKey
	)
	err := c.withSession(func(sh pkcs11.SessionHandle) error {
		var err error
		if pairs, err = c.findPairs(sh, id, label); err != nil || len(pairs) != 1 || !pairs[0].edwards {
			return err
		}
		pub, err = c.readEd25519Public(sh, pairs[0].pub, u.describeObject())
		return err
	})
	if err != nil {
		return nil, markIfUnmarked(errkind.Operational, fmt.Errorf("looking up PKCS#11 key %s on token %q: %w", u.describeObject(), c.token, err))
	}
	switch {
	case len(pairs) == 0:
		return nil, c.errNoKeyPair(u)
	case len(pairs) > 1:
		return nil, c.errAmbiguous(u, len(pairs))
	case !pairs[0].edwards:
		// crypto11 failed on a key this lookup does not see; say what
		// crypto11 said.
		return nil, c.findError(u, cause)
	}
	return &pk11Ed25519Key{c: c, priv: pairs[0].priv, pub: pub}, nil
}

// findPairs lists the key pairs whose private key matches id and label as
// crypto11's FindKeyPairs pairs them: a private key with a non-empty
// CKA_ID, and a public key object of the same type with its CKA_ID and
// CKA_LABEL, else its CKA_ID alone; failing that, for the key types
// crypto11 handles, a certificate with its CKA_ID.
func (c *pk11Conn) findPairs(sh pkcs11.SessionHandle, id, label []byte) ([]pk11Pair, error) {
	tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}
	if id != nil {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	}
	if label != nil {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label))
	}
	privs, err := c.findObjects(sh, tmpl)
	if err != nil {
		return nil, err
	}
	edwards := pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards).Value
	var pairs []pk11Pair
	for _, priv := range privs {
		attrs, err := c.mod.GetAttributeValue(sh, priv, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
		})
		if err != nil {
			return nil, err
		}
		pid, plabel, ktype := attrs[0].Value, attrs[1].Value, attrs[2].Value
		if len(pid) == 0 {
			continue
		}
		p := pk11Pair{priv: priv, edwards: bytes.Equal(ktype, edwards)}
		pubTmpl := []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
			{Type: pkcs11.CKA_KEY_TYPE, Value: ktype},
			pkcs11.NewAttribute(pkcs11.CKA_ID, pid),
		}
		withLabel := append(slices.Clip(pubTmpl), pkcs11.NewAttribute(pkcs11.CKA_LABEL, plabel))
		pubs, err := c.findObjects(sh, withLabel)
		if err != nil || len(pubs) == 0 {
			// Some tokens refuse an empty CKA_LABEL in a template
			// (crypto11 says CloudHSM); the id alone will do.
			if pubs, err = c.findObjects(sh, pubTmpl); err != nil {
				return nil, err
			}
		}
		if len(pubs) == 0 && !p.edwards {
			certs, err := c.findObjects(sh, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
				pkcs11.NewAttribute(pkcs11.CKA_ID, pid),
			})
			if err != nil {
				return nil, err
			}
			pubs = certs
		}
		if len(pubs) == 0 {
			continue // crypto11 skips a private key without a public half
		}
		p.pub = pubs[0]
		pairs = append(pairs, p)
	}
	return pairs, nil
}

// findObjects returns the handles of every object matching tmpl.
func (c *pk11Conn) findObjects(sh pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := c.mod.FindObjectsInit(sh, tmpl); err != nil {
		return nil, err
	}
	var all []pkcs11.ObjectHandle
	for {
		hs, _, err := c.mod.FindObjects(sh, 64)
		if err != nil {
			_ = c.mod.FindObjectsFinal(sh)
			return nil, err
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	return all, c.mod.FindObjectsFinal(sh)
}

// readEd25519Public reads the Ed25519 public key of an Edwards public key
// object. Ed448 and curves not named in CKA_EC_PARAMS are refused.
func (c *pk11Conn) readEd25519Public(sh pkcs11.SessionHandle, obj pkcs11.ObjectHandle, what string) (ed25519.PublicKey, error) {
	attrs, err := c.mod.GetAttributeValue(sh, obj, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("reading CKA_EC_PARAMS and CKA_EC_POINT of the public key: %w", err)
	}
	if err := checkEd25519Params(attrs[0].Value); err != nil {
		return nil, errkind.Inputf("PKCS#11 key %s on token %q: %w", what, c.token, err)
	}
	pub, err := parseEd25519Point(attrs[1].Value)
	if err != nil {
		return nil, errkind.Inputf("PKCS#11 key %s on token %q: %w", what, c.token, err)
	}
	return pub, nil
}

// checkEd25519Params accepts the CKA_EC_PARAMS of an Ed25519 key: the
// curve's OID or name (ed25519ECParams), or nothing, in which case the
// point's size decides.
func checkEd25519Params(der []byte) error {
	if len(der) == 0 {
		return nil
	}
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(der, &oid); err == nil && len(rest) == 0 {
		switch {
		case oid.Equal(oidEd25519):
			return nil
		case oid.Equal(oidEd448):
			return errkind.Inputf("the key is an Ed448 key, which Sigstore signatures do not use: use an Ed25519 key")
		}
		return errkind.Inputf("the Edwards-curve key has curve OID %s, not Ed25519's %s", oid, oidEd25519)
	}
	var name string
	if rest, err := asn1.Unmarshal(der, &name); err == nil && len(rest) == 0 {
		switch name {
		case "edwards25519":
			return nil
		case "edwards448":
			return errkind.Inputf("the key is an Ed448 key, which Sigstore signatures do not use: use an Ed25519 key")
		}
		return errkind.Inputf("the Edwards-curve key has curve %q, not edwards25519", name)
	}
	return errkind.Inputf("the Edwards-curve key's CKA_EC_PARAMS (%x) is neither a curve OID nor a curve name", der)
}

// parseEd25519Point returns the key in a CKA_EC_POINT: by PKCS#11 3.0 a DER
// OCTET STRING around the 32-byte RFC 8032 encoding, though some tokens
// store the 32 bytes bare.
func parseEd25519Point(b []byte) (ed25519.PublicKey, error) {
	raw := b
	if len(b) != ed25519.PublicKeySize {
		if rest, err := asn1.Unmarshal(b, &raw); err != nil || len(rest) != 0 {
			return nil, errkind.Inputf("the public key's CKA_EC_POINT (%d bytes) is neither an Ed25519 key nor a DER OCTET STRING holding one", len(b))
		}
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, errkind.Inputf("the public key's CKA_EC_POINT holds %d bytes, not an Ed25519 key's %d", len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(bytes.Clone(raw)), nil
}

// generateEd25519 makes an Ed25519 key pair with the templates of
// keygenAttributes and returns its public key; what names it for messages.
// Its errors are unmarked PKCS#11 errors for GeneratePKCS11 to classify, or
// marked ones.
func (c *pk11Conn) generateEd25519(pubAttrs, privAttrs crypto11.AttributeSet, what string) (crypto.PublicKey, error) {
	var pub ed25519.PublicKey
	err := c.withSession(func(sh pkcs11.SessionHandle) error {
		var err error
		for i, params := range ed25519ECParams {
			pubT, privT := pubAttrs.Copy(), privAttrs.Copy()
			pubT.AddIfNotPresent([]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
				pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
			})
			privT.AddIfNotPresent([]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			})
			var pubH pkcs11.ObjectHandle
			pubH, _, err = c.mod.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmECEdwardsKeyPairGen, nil)}, pubT.ToSlice(), privT.ToSlice())
			if err != nil {
				// A token that wants the curve's other spelling says
				// so with one of these; anything else is final.
				if i < len(ed25519ECParams)-1 && (isCKR(err, pkcs11.CKR_DOMAIN_PARAMS_INVALID) || isCKR(err, pkcs11.CKR_CURVE_NOT_SUPPORTED) ||
					isCKR(err, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID) || isCKR(err, pkcs11.CKR_TEMPLATE_INCONSISTENT)) {
					continue
				}
				return err
			}
			pub, err = c.readEd25519Public(sh, pubH, what)
			return err
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return pub, nil
}

// pk11Ed25519Key is an Ed25519 private key on a token, as a crypto.Signer
// with crypto/ed25519's conventions: Sign signs the message itself (pure
// Ed25519, CKM_EDDSA without parameters) and opts must be crypto.Hash(0).
type pk11Ed25519Key struct {
	c    *pk11Conn
	priv pkcs11.ObjectHandle
	pub  ed25519.PublicKey
}

func (k *pk11Ed25519Key) Public() crypto.PublicKey { return k.pub }

func (k *pk11Ed25519Key) Sign(_ io.Reader, message []byte, opts crypto.SignerOpts) ([]byte, error) {
	// Ed25519ph and Ed25519ctx would need CK_EDDSA_PARAMS, and produce
	// signatures Sigstore does not accept.
	if opts != nil && opts.HashFunc() != crypto.Hash(0) {
		return nil, fmt.Errorf("PKCS#11 Ed25519 keys sign messages, not %v digests (Ed25519ph is not supported)", opts.HashFunc())
	}
	if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
		return nil, errors.New("PKCS#11 Ed25519 keys do not sign with a context (Ed25519ctx is not supported)")
	}
	var sig []byte
	err := k.c.withSession(func(sh pkcs11.SessionHandle) error {
		if err := k.c.mod.SignInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdDSA, nil)}, k.priv); err != nil {
			return err
		}
		var err error
		sig, err = k.c.mod.Sign(sh, message)
		return err
	})
	return sig, err
}

// refuseExisting refuses to generate a key whose label or id is taken: two
// keys answering to one URI would make it ambiguous.
func (c *pk11Conn) refuseExisting(u *pkcs11URI, label, id []byte) error {
	check := func(id, label []byte, what string) error {
		found, err := c.ctx.FindKeyPairs(id, label)
		if err != nil {
			if strings.HasPrefix(err.Error(), "unsupported key type") {
				found = append(found, nil) // a key crypto11 cannot use still takes the name
			} else {
				return c.findError(u, err)
			}
		}
		if len(found) > 0 {
			return errkind.Inputf("PKCS#11 token %q already has a key with %s: choose another, or delete the old key (pkcs11-tool --delete-object --type privkey …)", c.token, what)
		}
		return nil
	}
	if label != nil {
		if err := check(nil, label, fmt.Sprintf("object %q", label)); err != nil {
			return err
		}
	}
	if id != nil {
		return check(id, nil, "id "+pctEncode(id))
	}
	return nil
}

// pkcs11SignerVerifier is a sigstore SignerVerifier over a key on a token.
// sigstore's LoadSignerVerifier only accepts *ecdsa.PrivateKey,
// *rsa.PrivateKey and ed25519.PrivateKey, not a crypto.Signer, hence this.
type pkcs11SignerVerifier struct {
	key      crypto.Signer
	pub      crypto.PublicKey
	hash     crypto.Hash // crypto.Hash(0) for pure Ed25519
	verifier signature.Verifier
	what     string // `object "L" on token "T"`, for messages
}

// newPKCS11SignerVerifier signs the way FromPrivateKey's signers do for the
// same key: ECDSA over the curve's hash, RSA PKCS#1 v1.5 over SHA-256, pure
// Ed25519 over the message (the Sigstore defaults keys.Verifier and cosign
// check).
func newPKCS11SignerVerifier(key crypto.Signer, what string) (*pkcs11SignerVerifier, error) {
	pub := key.Public()
	details, err := algorithmFor(pub)
	if err != nil {
		return nil, fmt.Errorf("PKCS#11 key %s: %w", what, err)
	}
	v, err := Verifier(pub)
	if err != nil {
		return nil, err
	}
	return &pkcs11SignerVerifier{key: key, pub: pub, hash: details.GetHashType(), verifier: v, what: what}, nil
}

func (s *pkcs11SignerVerifier) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return s.pub, nil
}

func (s *pkcs11SignerVerifier) SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error) {
	ctx := context.Background()
	for _, o := range opts {
		o.ApplyContext(&ctx)
	}
	// A PKCS#11 call cannot be interrupted; at least do not start one
	// for a caller that has given up.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.hash == crypto.Hash(0) {
		return s.signEd25519(message)
	}
	// Only the key's own hash: a digest of another size would be signed
	// by the token but fail every verifier.
	digest, hf, err := signature.ComputeDigestForSigning(message, s.hash, []crypto.Hash{s.hash}, opts...)
	if err != nil {
		return nil, fmt.Errorf("PKCS#11 key %s: %w", s.what, err)
	}
	// crypto11 signs RSA with CKM_RSA_PKCS over the DigestInfo of hf,
	// i.e. PKCS#1 v1.5, because hf is not *rsa.PSSOptions.
	sig, err := s.key.Sign(rand.Reader, digest, hf)
	if err != nil {
		return nil, s.signError(err)
	}
	// crypto11 pairs the private key with a public key object by CKA_ID
	// and label; objects imported by hand can disagree. Checking here
	// means no signature leaves that the key id it claims cannot verify.
	if err := verifyDigest(s.pub, hf, digest, sig); err != nil {
		return nil, s.errMismatch(err)
	}
	return sig, nil
}

// signEd25519 signs the whole message with pure Ed25519, as sigstore's
// ED25519SignerVerifier does: digest and hash options do not apply (SignData
// passes none for Ed25519) and are ignored like there.
func (s *pkcs11SignerVerifier) signEd25519(message io.Reader) ([]byte, error) {
	msg, _, err := signature.ComputeDigestForSigning(message, crypto.Hash(0), []crypto.Hash{crypto.Hash(0)})
	if err != nil {
		return nil, fmt.Errorf("PKCS#11 key %s: %w", s.what, err)
	}
	sig, err := s.key.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil {
		return nil, s.signError(err)
	}
	// The private and public objects were paired by id and label, which
	// objects imported by hand can get wrong.
	if !ed25519.Verify(s.pub.(ed25519.PublicKey), msg, sig) {
		return nil, s.errMismatch(errors.New("invalid Ed25519 signature"))
	}
	return sig, nil
}

func (s *pkcs11SignerVerifier) signError(err error) error {
	if _, marked := errkind.Of(err); marked {
		return err
	}
	var ckr pkcs11.Error
	if errors.As(err, &ckr) && (ckr == pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED || ckr == pkcs11.CKR_KEY_TYPE_INCONSISTENT || ckr == pkcs11.CKR_MECHANISM_INVALID) {
		return errkind.Inputf("PKCS#11 key %s cannot sign: %w", s.what, err)
	}
	return errkind.Operationalf("signing with PKCS#11 key %s: %w", s.what, err)
}

func (s *pkcs11SignerVerifier) errMismatch(err error) error {
	return errkind.Inputf("PKCS#11 key %s: the token's signature does not verify with the key's public key object (%v): the private and public objects with this id and label are not one key pair", s.what, err)
}

func (s *pkcs11SignerVerifier) VerifySignature(sig, message io.Reader, opts ...signature.VerifyOption) error {
	return s.verifier.VerifySignature(sig, message, opts...)
}

func verifyDigest(pub crypto.PublicKey, hf crypto.Hash, digest, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("invalid ECDSA signature")
		}
		return nil
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, hf, digest, sig)
	}
	return fmt.Errorf("unexpected public key type %T", pub)
}

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

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	curve, bits, err := pkcs11KeySpec(t)
	if err != nil {
		return nil, err
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
	var key crypto11.Signer
	if bits != 0 {
		key, err = c.ctx.GenerateRSAKeyPairWithAttributes(pubAttrs, privAttrs, bits)
	} else {
		key, err = c.ctx.GenerateECDSAKeyPairWithAttributes(pubAttrs, privAttrs, curve)
	}
	if err != nil {
		var ckr pkcs11.Error
		if errors.As(err, &ckr) && (ckr == pkcs11.CKR_MECHANISM_INVALID || ckr == pkcs11.CKR_DOMAIN_PARAMS_INVALID ||
			ckr == pkcs11.CKR_TEMPLATE_INCONSISTENT || ckr == pkcs11.CKR_ATTRIBUTE_VALUE_INVALID || ckr == pkcs11.CKR_KEY_SIZE_RANGE) {
			return nil, errkind.Inputf("PKCS#11 token %q cannot generate a %s key: %w", c.token, t, err)
		}
		return nil, errkind.Operationalf("generating a %s key on PKCS#11 token %q: %w", t, c.token, err)
	}
	pub := key.Public()
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
		if err := c.ctx.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing PKCS#11 token %q: %w", c.token, err))
		}
		delete(pk11.conns, k)
	}
	return errors.Join(errs...)
}

// pkcs11KeySpec maps a key type to an EC curve or an RSA size.
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
	case TypeEd25519:
		return nil, 0, errEd25519PKCS11()
	}
	return nil, 0, errkind.Inputf("unknown key type %q: use one of %s, %s, %s, %s", string(t), TypeECDSAP256, TypeECDSAP384, TypeRSA3072, TypeRSA4096)
}

// errEd25519PKCS11 is the one answer for Ed25519 on a token. SoftHSM2 2.6
// itself has CKM_EDDSA, but crypto11 (v1.2.5 and ThalesGroup v1.5.0) knows
// only RSA, ECDSA and DSA key objects.
func errEd25519PKCS11() error {
	return errkind.Inputf("Ed25519 keys on PKCS#11 tokens are not supported: this token/library does not support Ed25519 (imgsign's PKCS#11 layer, crypto11, has no EdDSA): use ecdsa-p256, ecdsa-p384, rsa-3072 or rsa-4096 on the token")
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
	c := &pk11Conn{slot: key, token: info.Label, ctx: c11, users: 1, hasPIN: loginRequired, pinSum: sha256.Sum256([]byte(pin))}
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
	_ = c.ctx.Close()
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

// ckkECEdwards is CKK_EC_EDWARDS (PKCS#11 3.0), which miekg/pkcs11 v1.1.1
// predates.
const ckkECEdwards = 0x40

func isCKR(err error, want uint) bool {
	var ckr pkcs11.Error
	return errors.As(err, &ckr) && uint(ckr) == want
}

// findKey returns the one key pair matching u's object and id.
func (c *pk11Conn) findKey(u *pkcs11URI) (crypto11.Signer, error) {
	label, id := u.object()
	found, err := c.ctx.FindKeyPairs(id, label)
	if err != nil {
		return nil, c.findError(u, err)
	}
	switch len(found) {
	case 0:
		return nil, errkind.Inputf("PKCS#11 token %q has no key pair with %s (a private key with a CKA_ID and its public key object): list the token's keys with pkcs11-tool --module %s --token-label %q --login --list-objects",
			c.token, u.describeObject(), c.slot.module, c.token)
	case 1:
		return found[0], nil
	}
	return nil, errkind.Inputf("%d key pairs on PKCS#11 token %q match %s: add id= to the URI to pick one", len(found), c.token, u.describeObject())
}

// findError classifies crypto11's key lookup errors. crypto11 reports an
// unknown key type only as text, "unsupported key type: %X" of CKA_KEY_TYPE;
// tests pin that text for the version in go.mod.
func (c *pk11Conn) findError(u *pkcs11URI, err error) error {
	msg := err.Error()
	if t, ok := strings.CutPrefix(msg, "unsupported key type: "); ok {
		if t == fmt.Sprintf("%X", ckkECEdwards) {
			return fmt.Errorf("PKCS#11 key %s on token %q: %w", u.describeObject(), c.token, errEd25519PKCS11())
		}
		return errkind.Inputf("PKCS#11 key %s on token %q has key type 0x%s, which imgsign cannot sign with: use an EC P-256, EC P-384 or RSA key", u.describeObject(), c.token, t)
	}
	return errkind.Operationalf("looking up PKCS#11 key %s on token %q: %w", u.describeObject(), c.token, err)
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
	hash     crypto.Hash
	verifier signature.Verifier
	what     string // `object "L" on token "T"`, for messages
}

// newPKCS11SignerVerifier signs the way FromPrivateKey's signers do for the
// same key: ECDSA over the curve's hash, RSA PKCS#1 v1.5 over SHA-256 (the
// Sigstore defaults keys.Verifier and cosign check).
func newPKCS11SignerVerifier(key crypto.Signer, what string) (*pkcs11SignerVerifier, error) {
	pub := key.Public()
	details, err := algorithmFor(pub)
	if err != nil {
		return nil, fmt.Errorf("PKCS#11 key %s: %w", what, err)
	}
	if details.GetKeyType() == signature.ED25519 {
		return nil, errEd25519PKCS11() // unreachable with crypto11; kept for a future backend
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
		var ckr pkcs11.Error
		if errors.As(err, &ckr) && (ckr == pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED || ckr == pkcs11.CKR_KEY_TYPE_INCONSISTENT || ckr == pkcs11.CKR_MECHANISM_INVALID) {
			return nil, errkind.Inputf("PKCS#11 key %s cannot sign: %w", s.what, err)
		}
		return nil, errkind.Operationalf("signing with PKCS#11 key %s: %w", s.what, err)
	}
	// crypto11 pairs the private key with a public key object by CKA_ID
	// and label; objects imported by hand can disagree. Checking here
	// means no signature leaves that the key id it claims cannot verify.
	if err := verifyDigest(s.pub, hf, digest, sig); err != nil {
		return nil, errkind.Inputf("PKCS#11 key %s: the token's signature does not verify with the key's public key object (%v): the private and public objects with this id and label are not one key pair", s.what, err)
	}
	return sig, nil
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

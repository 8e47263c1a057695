//go:build cgo

package keys

// Lifetime: a PKCS#11 module is initialised once per process and a token's
// login state is per process too, so this file keeps one crypto11.Context
// per (module, slot) and shares it. LoadPKCS11Public and GeneratePKCS11
// close the context when they are done unless a Signer uses it; a Signer
// keeps its context open until ClosePKCS11 or the process exits (the token
// logs the process out when it goes away; SoftHSM2 writes objects at
// creation, so nothing is lost by not closing).

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ThalesIgnite/crypto11"
	"github.com/miekg/pkcs11"

	"github.com/imgsign/imgsign/internal/errkind"
)

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

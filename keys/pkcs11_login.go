//go:build cgo

package keys

// Logging in to a token: checking the PIN before crypto11 gets it, and
// saying what a failed login means. Where the PIN comes from is in
// pkcs11.go, which needs no cgo.

import (
	"errors"

	"github.com/miekg/pkcs11"

	"github.com/imgsign/imgsign/internal/errkind"
)

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

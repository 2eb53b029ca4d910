package receive

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login): challenges "Username:" and "Password:".
// github.com/emersion/go-sasl provides the PLAIN server used here but
// dropped its LOGIN server as obsolete; devices and applications (scanners,
// Outlook, System.Net.Mail) still use LOGIN, so the few lines live here.
type loginServer struct {
	step         int
	user         string
	authenticate sasl.PlainAuthenticator // called with an empty identity
}

var errLoginDone = errors.New("sasl: LOGIN exchange already finished")

func newLoginServer(auth sasl.PlainAuthenticator) sasl.Server {
	return &loginServer{authenticate: auth}
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		// RFC 4954 allows an initial response: the user name.
		fallthrough
	case 1:
		l.user = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.authenticate("", l.user, string(response))
	}
	return nil, true, errLoginDone
}

package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/mailflowhq/mailflow/internal/users"
)

// UserChange is the body of POST /api/v1/users and PUT …/password. The
// CLI hashes the password itself: only the argon2id hash crosses the API.
type UserChange struct {
	Name   string   `json:"name,omitempty"`
	Hash   string   `json:"hash"`
	SendAs []string `json:"send_as,omitempty"`
}

func (a *API) usersList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.srv.Users().List())
}

func (a *API) userAdd(w http.ResponseWriter, r *http.Request) {
	var in UserChange
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Name == "" || in.Hash == "" {
		writeError(w, http.StatusBadRequest, errors.New(`body must be {"name": "…", "hash": "$argon2id$…", "send_as": ["…"]}`))
		return
	}
	u := &users.User{Name: in.Name, Hash: in.Hash, SendAs: in.SendAs, Changed: a.srv.Runtime().Recv.Now().UTC()}
	if err := a.srv.Users().Add(u); err != nil {
		writeError(w, userStatus(err), err)
		return
	}
	a.log.Info("user added", "user", in.Name, "send_as", in.SendAs)
	writeJSON(w, http.StatusCreated, map[string]string{"name": in.Name})
}

func (a *API) userPassword(w http.ResponseWriter, r *http.Request) {
	var in UserChange
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Hash == "" {
		writeError(w, http.StatusBadRequest, errors.New(`body must be {"hash": "$argon2id$…"}`))
		return
	}
	name := r.PathValue("name")
	if err := a.srv.Users().SetPassword(name, in.Hash); err != nil {
		writeError(w, userStatus(err), err)
		return
	}
	a.log.Info("user password changed", "user", name)
	writeJSON(w, http.StatusOK, map[string]string{"name": name})
}

func (a *API) userRemove(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := a.srv.Users().Remove(name); err != nil {
		writeError(w, userStatus(err), err)
		return
	}
	a.log.Info("user removed", "user", name)
	writeJSON(w, http.StatusOK, map[string]string{"name": name})
}

func userStatus(err error) int {
	switch {
	case errors.Is(err, users.ErrNoSuchUser):
		return http.StatusNotFound
	case errors.Is(err, users.ErrExists):
		return http.StatusConflict
	}
	return http.StatusUnprocessableEntity
}

// Users lists the users of the running server (without hashes).
func (c *Client) Users() ([]users.User, error) {
	var out []users.User
	err := c.Do("GET", "/api/v1/users", nil, &out)
	return out, err
}

// AddUser adds a user to the running server.
func (c *Client) AddUser(name, hash string, sendAs []string) error {
	return c.Do("POST", "/api/v1/users", UserChange{Name: name, Hash: hash, SendAs: sendAs}, nil)
}

// SetUserPassword replaces a user's password hash on the running server.
func (c *Client) SetUserPassword(name, hash string) error {
	return c.Do("PUT", "/api/v1/users/"+url.PathEscape(name)+"/password", UserChange{Hash: hash}, nil)
}

// RemoveUser removes a user from the running server.
func (c *Client) RemoveUser(name string) error {
	return c.Do("DELETE", "/api/v1/users/"+url.PathEscape(name), nil, nil)
}

package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
)

func view(in *sessiontable.Info, opener string) api.Session {
	v := api.Session{SessionID: in.ID, Owner: in.Owner, TID: in.TID, State: string(in.State),
		Created: in.Created, LastAccess: in.LastAccess, IdleTimeout: in.IdleTimeout.String(), Expires: in.Expires}
	if opener != in.Owner {
		v.OpenedBy = opener
	}
	v.Deadline = in.Deadline
	return v
}

type establishIn struct {
	Body api.EstablishRequest
}

type establishOut struct {
	Status    int
	SetCookie http.Cookie `header:"Set-Cookie"`
	Session   string      `header:"Sessionq-Session"`
	App       string      `header:"Sessionq-Application"`
	Body      api.EstablishResponse
}

type listSessionsIn struct {
	Ref
	Limit int `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type sessionsOut struct {
	Body api.SessionList
}

type sessionIn struct {
	Ref
	ID string `path:"id" doc:"Session ID"`
}

type sessionOut struct {
	Body api.Session
}

type paramsOut struct {
	Body api.Params
}

type putParamsIn struct {
	Ref
	ID   string `path:"id"`
	Body api.ParamsChange
}

type paramIn struct {
	Ref
	ID  string `path:"id"`
	Key string `path:"key" maxLength:"128"`
}

type paramOut struct {
	Body api.Param
}

type putParamIn struct {
	Ref
	ID   string `path:"id"`
	Key  string `path:"key" maxLength:"128"`
	Body api.ParamValue
}

type filesOut struct {
	Body api.FileList
}

// fileList lists files (never null).
func fileList(fs []sessiontable.FileInfo) api.FileList {
	l := api.FileList{Files: make([]api.File, 0, len(fs))}
	for _, f := range fs {
		l.Files = append(l.Files, api.File{Name: f.Name, Size: f.Size})
	}
	return l
}

// sessionList is an empty list of sessions, never null.
func sessionList() api.SessionList { return api.SessionList{Sessions: []api.Session{}} }

type fileIn struct {
	Ref
	ID   string `path:"id"`
	Name string `path:"name" maxLength:"255"`
}

type putFileIn struct {
	Ref
	ID      string `path:"id"`
	Name    string `path:"name" maxLength:"255"`
	RawBody []byte `contentType:"application/octet-stream"`
}

type noContent struct{}

func (s *Server) registerSessions() {
	api := s.api
	tags := []string{"sessions"}
	huma.Register(api, huma.Operation{
		OperationID: "establishSession", Method: http.MethodPost, Path: "/v1/sessions", Tags: tags,
		Summary: "Establish a session: create one, or find the one bound to a TID",
		Description: "createSession true creates a session (201), bound to TID when given; false finds the live session bound to TID (200). " +
			"With user, the session is opened for that user: with their password, or without one when the connection's user has the impersonate right. " +
			"The answer sets the cookie sessionq_session.",
		Metadata: map[string]any{"establish": true},
		Errors:   []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusTooManyRequests},
	}, s.establish)
	// The answer is 201 when a session was created, else 200: one schema.
	if pi := api.OpenAPI().Paths["/v1/sessions"]; pi != nil && pi.Post != nil {
		ok := *pi.Post.Responses["200"]
		ok.Description = "Created"
		pi.Post.Responses["201"] = &ok
	}
	huma.Register(api, huma.Operation{
		OperationID: "listSessions", Method: http.MethodGet, Path: "/v1/sessions", Tags: tags,
		Summary: "The open sessions the caller may read",
	}, s.listSessions)
	huma.Register(api, huma.Operation{
		OperationID: "getSession", Method: http.MethodGet, Path: "/v1/sessions/{id}", Tags: tags,
		Summary: "Read a session", Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, _ *sessionIn) (*sessionOut, error) {
		sc := scopeOf(ctx)
		if err := sc.mayRead(); err != nil {
			return nil, err
		}
		return &sessionOut{Body: view(sc.sess, sc.opener)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "closeSession", Method: http.MethodDelete, Path: "/v1/sessions/{id}", Tags: tags,
		Summary: "Close a session at once", DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound, http.StatusForbidden},
	}, func(ctx context.Context, in *sessionIn) (*noContent, error) {
		sc := scopeOf(ctx)
		if err := sc.mayWrite(); err != nil {
			return nil, err
		}
		if err := s.table.Close(ctx, in.ID); err != nil {
			return nil, s.tableErr(ctx, "closing a session", err)
		}
		return &noContent{}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "getParams", Method: http.MethodGet, Path: "/v1/sessions/{id}/params", Tags: tags,
		Summary: "Read every parameter (of the sub-session, over the session's)", Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *sessionIn) (*paramsOut, error) {
		sc := scopeOf(ctx)
		if err := sc.mayRead(); err != nil {
			return nil, err
		}
		m, err := s.table.Params(ctx, in.ID, sc.opts...)
		if err != nil {
			return nil, s.tableErr(ctx, "reading parameters", err)
		}
		out := &paramsOut{}
		out.Body.Params = m
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "putParams", Method: http.MethodPut, Path: "/v1/sessions/{id}/params", Tags: tags,
		Summary: "Set and delete parameters at once, all or nothing (in the sub-session when one is named)", DefaultStatus: http.StatusNoContent,
		Errors: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *putParamsIn) (*noContent, error) {
		sc := scopeOf(ctx)
		if err := sc.mayWrite(); err != nil {
			return nil, err
		}
		if err := s.table.ChangeParams(ctx, in.ID, in.Body.Params, in.Body.Delete, sc.opts...); err != nil {
			return nil, s.tableErr(ctx, "setting parameters", err)
		}
		return &noContent{}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "getParam", Method: http.MethodGet, Path: "/v1/sessions/{id}/params/{key}", Tags: tags,
		Summary: "Read one parameter", Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *paramIn) (*paramOut, error) {
		sc := scopeOf(ctx)
		if err := sc.mayRead(); err != nil {
			return nil, err
		}
		v, err := s.table.Param(ctx, in.ID, in.Key, sc.opts...)
		if err != nil {
			return nil, s.tableErr(ctx, "reading a parameter", err)
		}
		out := &paramOut{}
		out.Body.Key, out.Body.Value = in.Key, v
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "putParam", Method: http.MethodPut, Path: "/v1/sessions/{id}/params/{key}", Tags: tags,
		Summary: "Set one parameter", DefaultStatus: http.StatusNoContent,
		Errors: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *putParamIn) (*noContent, error) {
		sc := scopeOf(ctx)
		if err := sc.mayWrite(); err != nil {
			return nil, err
		}
		if err := s.table.SetParam(ctx, in.ID, in.Key, in.Body.Value, sc.opts...); err != nil {
			return nil, s.tableErr(ctx, "setting a parameter", err)
		}
		return &noContent{}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "deleteParam", Method: http.MethodDelete, Path: "/v1/sessions/{id}/params/{key}", Tags: tags,
		Summary: "Delete one parameter", DefaultStatus: http.StatusNoContent,
		Errors: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *paramIn) (*noContent, error) {
		sc := scopeOf(ctx)
		if err := sc.mayWrite(); err != nil {
			return nil, err
		}
		if err := s.table.DeleteParam(ctx, in.ID, in.Key, sc.opts...); err != nil {
			return nil, s.tableErr(ctx, "deleting a parameter", err)
		}
		return &noContent{}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "listFiles", Method: http.MethodGet, Path: "/v1/sessions/{id}/files", Tags: tags,
		Summary: "List the session's files", Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *sessionIn) (*filesOut, error) {
		sc := scopeOf(ctx)
		if err := sc.mayRead(); err != nil {
			return nil, err
		}
		fs, err := s.table.Files(ctx, in.ID, sc.opts...)
		if err != nil {
			return nil, s.tableErr(ctx, "listing files", err)
		}
		return &filesOut{Body: fileList(fs)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "getFile", Method: http.MethodGet, Path: "/v1/sessions/{id}/files/{name}", Tags: tags,
		Summary: "Read a file", Errors: []int{http.StatusNotFound},
		Responses: map[string]*huma.Response{"200": {Description: "The file", Content: map[string]*huma.MediaType{
			"application/octet-stream": {Schema: &huma.Schema{Type: "string", Description: "The file's bytes"}}}}},
	}, func(ctx context.Context, in *fileIn) (*huma.StreamResponse, error) {
		sc := scopeOf(ctx)
		if err := sc.mayRead(); err != nil {
			return nil, err
		}
		b, err := s.table.File(ctx, in.ID, in.Name, sc.opts...)
		if err != nil {
			return nil, s.tableErr(ctx, "reading a file", err)
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			hctx.SetHeader("Content-Type", "application/octet-stream")
			hctx.SetHeader("Content-Length", strconv.Itoa(len(b)))
			hctx.SetStatus(http.StatusOK)
			_, _ = hctx.BodyWriter().Write(b)
		}}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "putFile", Method: http.MethodPut, Path: "/v1/sessions/{id}/files/{name}", Tags: tags,
		Summary: "Write a file (the raw body)", DefaultStatus: http.StatusNoContent,
		MaxBodyBytes: s.cfg.MaxFileSize + 1,
		Errors:       []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusRequestEntityTooLarge},
	}, func(ctx context.Context, in *putFileIn) (*noContent, error) {
		sc := scopeOf(ctx)
		if err := sc.mayWrite(); err != nil {
			return nil, err
		}
		if err := s.table.PutFile(ctx, in.ID, in.Name, in.RawBody, sc.opts...); err != nil {
			return nil, s.tableErr(ctx, "writing a file", err)
		}
		return &noContent{}, nil
	})
	// huma describes a raw body as format binary, which its OpenAPI 3.0
	// downgrade turns into contentMediaType, a 3.1 keyword: say "string".
	if pi := api.OpenAPI().Paths["/v1/sessions/{id}/files/{name}"]; pi != nil && pi.Put != nil && pi.Put.RequestBody != nil {
		for _, mt := range pi.Put.RequestBody.Content {
			mt.Schema.Format, mt.Schema.Description = "", "The file's bytes"
		}
	}
	huma.Register(api, huma.Operation{
		OperationID: "deleteFile", Method: http.MethodDelete, Path: "/v1/sessions/{id}/files/{name}", Tags: tags,
		Summary: "Delete a file", DefaultStatus: http.StatusNoContent,
		Errors: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound},
	}, func(ctx context.Context, in *fileIn) (*noContent, error) {
		sc := scopeOf(ctx)
		if err := sc.mayWrite(); err != nil {
			return nil, err
		}
		if err := s.table.DeleteFile(ctx, in.ID, in.Name, sc.opts...); err != nil {
			return nil, s.tableErr(ctx, "deleting a file", err)
		}
		return &noContent{}, nil
	})
}

// mayRead checks that the request may read its session; an unreadable
// session looks unknown.
func (sc *scope) mayRead() *apiError {
	if sc.sess == nil || !sc.canRead(sc.sess.Owner) {
		return apiErr(http.StatusNotFound, CodeSessionNotFound, "no such session")
	}
	return nil
}

// mayWrite checks that the request may write its session.
func (sc *scope) mayWrite() *apiError {
	if sc.sess == nil {
		return apiErr(http.StatusNotFound, CodeSessionNotFound, "no such session")
	}
	if !sc.canWrite(sc.sess.Owner) {
		return apiErr(http.StatusForbidden, CodeForbidden, "the session's owner may not write it (write:own)")
	}
	return nil
}

func (s *Server) establish(ctx context.Context, in *establishIn) (*establishOut, error) {
	sc := scopeOf(ctx)
	b := in.Body
	spec := sessiontable.Spec{Owner: sc.conn.Name, TID: b.TID}
	if b.ApplicationID != "" {
		if err := validateApp(b.ApplicationID); err != nil {
			return nil, err
		}
	}
	if b.IdleTimeout != "" {
		d, err := time.ParseDuration(b.IdleTimeout)
		if err != nil || d <= 0 {
			return nil, apiErr(http.StatusBadRequest, CodeInvalidRequest, "idleTimeout: want a positive Go duration such as 15m")
		}
		spec.IdleTimeout = d
	}
	var via []string // attribute name, value pairs: how a session for another user is opened
	if b.User != "" && b.User != sc.conn.Name {
		if err := users.ValidateName(b.User); err != nil {
			return nil, apiErr(http.StatusBadRequest, CodeInvalidRequest, err.Error())
		}
		switch {
		case b.Password != "":
			o, err := s.checkPassword(ctx, b.User, b.Password)
			if err != nil {
				if err.status == http.StatusUnauthorized {
					return nil, apiErr(http.StatusForbidden, CodeForbidden, "wrong user or password")
				}
				return nil, err
			}
			via = []string{attrVia, viaPassword, attrOwnerEpoch, strconv.FormatInt(o.Epoch, 10)}
		case !sc.conn.Has(users.Impersonate):
			return nil, apiErr(http.StatusForbidden, CodeForbidden, "opening a session for another user needs their password or the impersonate right")
		default: // impersonate: never a session for a user that does not exist
			if _, err := s.users.Get(ctx, b.User); errors.Is(err, users.ErrNotFound) {
				return nil, apiErr(http.StatusNotFound, CodeUserNotFound, "no such user")
			} else if err != nil {
				return nil, s.internal(ctx, "creating a session", err)
			}
			via = []string{attrVia, viaImpersonate}
		}
		spec.Owner = b.User
	}
	var info *sessiontable.Info
	opener := sc.conn.Name
	if b.CreateSession {
		var err error
		if info, err = s.table.Establish(ctx, true, spec); err != nil {
			return nil, s.tableErr(ctx, "creating a session", err)
		}
		// How it was opened before who opened it: the opener cannot use it
		// before both are there.
		via = append(via, attrOpener, sc.conn.Name)
		for i := 0; i+1 < len(via); i += 2 {
			if err := s.table.SetAttr(ctx, info.ID, via[i], via[i+1]); err != nil {
				return nil, s.tableErr(ctx, "creating a session", err)
			}
		}
	} else {
		// Found out-of-session first: a caller who may not use the
		// session must not keep it alive.
		if b.TID == "" {
			return nil, s.tableErr(ctx, "finding a session", sessiontable.ErrTIDRequired)
		}
		// In the namespace of the session's owner: one user's TIDs
		// neither collide with nor reveal another's.
		found, err := s.table.Lookup(ctx, spec.Owner, b.TID, sessiontable.OutOfSession())
		if err != nil {
			return nil, s.tableErr(ctx, "finding a session", err)
		}
		_, attrs, err := s.table.GetAttrs(ctx, found.ID, sessiontable.OutOfSession())
		if err != nil {
			return nil, s.tableErr(ctx, "finding a session", err)
		}
		opener = attrs[attrOpener]
		_, ok, err := s.mayUse(ctx, sc.conn, found, attrs)
		if err != nil {
			return nil, s.internal(ctx, "finding a session", err)
		}
		if !ok || b.User != "" && b.User != found.Owner {
			return nil, apiErr(http.StatusNotFound, CodeSessionNotFound, "no live session is bound to this TID")
		}
		if info, err = s.table.Get(ctx, found.ID); err != nil {
			return nil, s.tableErr(ctx, "finding a session", err)
		}
	}
	out := &establishOut{Status: http.StatusOK, Session: info.ID, App: b.ApplicationID}
	if b.CreateSession {
		out.Status = http.StatusCreated
	}
	out.SetCookie = http.Cookie{Name: CookieSession, Value: info.ID, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.cfg.CookieSecure}
	out.Body.SessionID, out.Body.Created, out.Body.ApplicationID = info.ID, b.CreateSession, b.ApplicationID
	out.Body.Session = view(info, opener)
	return out, nil
}

func (s *Server) listSessions(ctx context.Context, in *listSessionsIn) (*sessionsOut, error) {
	sc := scopeOf(ctx)
	o := sessiontable.ListOptions{Owner: sc.conn.Name, Limit: in.Limit}
	if sc.canRead("") { // read:all on both sides
		o.Owner = ""
	}
	l, err := s.table.List(ctx, o)
	if errors.Is(err, sessiontable.ErrInvalid) {
		l, err = nil, nil // a user name that cannot own sessions owns none
	}
	if err != nil {
		return nil, s.tableErr(ctx, "listing sessions", err)
	}
	out := &sessionsOut{Body: sessionList()}
	for _, info := range l {
		if sc.canRead(info.Owner) {
			out.Body.Sessions = append(out.Body.Sessions, view(info, ""))
		}
	}
	return out, nil
}

// tableErr turns a session table error into an answer.
func (s *Server) tableErr(ctx context.Context, doing string, err error) *apiError {
	var le *sessiontable.LimitError
	switch {
	case errors.As(err, &le):
		return apiErr(http.StatusBadRequest, CodeLimit, le.Error())
	case errors.Is(err, sessiontable.ErrTIDRequired):
		return apiErr(http.StatusBadRequest, CodeTIDRequired, "a TID is required to find an existing session")
	case errors.Is(err, sessiontable.ErrTIDTaken):
		return apiErr(http.StatusConflict, CodeTIDTaken, "the TID is bound to another live session")
	case errors.Is(err, sessiontable.ErrQuota):
		return apiErr(http.StatusTooManyRequests, CodeQuota, "the owner's open session quota is reached")
	case errors.Is(err, sessiontable.ErrParamNotFound):
		return apiErr(http.StatusNotFound, CodeParamNotFound, "no such parameter")
	case errors.Is(err, sessiontable.ErrFileNotFound):
		return apiErr(http.StatusNotFound, CodeFileNotFound, "no such file")
	case errors.Is(err, sessiontable.ErrNotFound):
		return apiErr(http.StatusNotFound, CodeSessionNotFound, "no such session")
	case errors.Is(err, sessiontable.ErrInvalid):
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, err.Error())
	}
	return s.internal(ctx, doing, err)
}

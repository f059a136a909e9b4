package gateway

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// apiConfig is the huma configuration: OpenAPI at /openapi.json (and
// /openapi-3.0.json), no docs page (it would load scripts from a CDN), no
// "$schema" links added to answers, bearer auth everywhere but where an
// operation says otherwise.
func apiConfig() huma.Config {
	cfg := huma.DefaultConfig("sessionq gateway", "1.0.0")
	cfg.Components.Schemas = huma.NewMapRegistry("#/components/schemas/", schemaName)
	cfg.Transformers = append(cfg.Transformers, errorShape)
	cfg.Info.Description = "The session protocol of sessionq over HTTP/JSON: establish sessions, carry them in every request, submit and follow jobs."
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	cfg.CreateHooks = nil
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "An API token (sessionq user token create, or POST /v1/login)"},
	}
	cfg.Security = []map[string][]string{{"bearer": {}}}
	return cfg
}

// humaPkg is huma's package path: its error types are named apart
// (HumaErrorModel, HumaErrorDetail), then left out of the document.
var humaPkg = reflect.TypeFor[huma.ErrorModel]().PkgPath()

// schemaName names schemas as huma does, but huma's own error types apart
// from the gateway's (api.ErrorDetail is ErrorDetail).
func schemaName(t reflect.Type, hint string) string {
	n := huma.DefaultSchemaNamer(t, hint)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.PkgPath() == humaPkg {
		return "Huma" + n
	}
	return n
}

var public = map[string]any{"public": true}

func (s *Server) register() {
	api := s.api
	huma.Register(api, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz", Summary: "Liveness",
		Metadata: public, Security: []map[string][]string{}, Tags: []string{"health"},
	}, func(context.Context, *struct{}) (*statusOut, error) {
		return &statusOut{Body: statusBody{Status: "ok"}}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz", Summary: "Readiness: Redis answers",
		Metadata: public, Security: []map[string][]string{}, Tags: []string{"health"},
		Errors: []int{http.StatusServiceUnavailable},
	}, func(ctx context.Context, _ *struct{}) (*statusOut, error) {
		if err := s.rdb.Ping(ctx).Err(); err != nil {
			return nil, s.internal(ctx, "pinging Redis", err)
		}
		return &statusOut{Body: statusBody{Status: "ok"}}, nil
	})
	s.registerLogin()
	s.registerSessions()
	s.registerJobs()
	s.registerEvents()
	documentErrors(api)
}

// documentErrors adds the error answers any operation may give to each:
// bad input, unknown session, oversized body, Redis away, and 401 where a
// token is needed; every error answer is the one error body (huma
// documents its own ErrorModel, left out).
func documentErrors(api huma.API) {
	oapi := api.OpenAPI()
	schema := oapi.Components.Schemas.Schema(reflect.TypeOf(ErrorBody{}), true, "Error")
	for _, pi := range oapi.Paths {
		for _, op := range []*huma.Operation{pi.Get, pi.Put, pi.Post, pi.Delete} {
			if op == nil {
				continue
			}
			for k, r := range op.Responses {
				if c, err := strconv.Atoi(k); err == nil && c >= 400 || k == "default" {
					r.Content = map[string]*huma.MediaType{"application/json": {Schema: schema}}
				}
			}
			codes := []int{http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable}
			if pub, _ := op.Metadata["public"].(bool); !pub {
				codes = append(codes, http.StatusUnauthorized)
			}
			for _, c := range codes {
				k := strconv.Itoa(c)
				if op.Responses[k] != nil {
					continue
				}
				op.Responses[k] = &huma.Response{Description: http.StatusText(c),
					Content: map[string]*huma.MediaType{"application/json": {Schema: schema}}}
			}
		}
	}
	for name := range oapi.Components.Schemas.Map() {
		if strings.HasPrefix(name, "Huma") {
			delete(oapi.Components.Schemas.Map(), name)
		}
	}
}

type statusBody struct {
	Status string `json:"status" example:"ok"`
}

type statusOut struct {
	Body statusBody
}

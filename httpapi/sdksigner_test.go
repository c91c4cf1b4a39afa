package httpapi

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	sdkrequest "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"
)

// sdkTestSigner signs requests with the official Huawei Cloud Go SDK's
// signer (core/auth/signer): the client the DMS door must accept as it is.
// The SDK's DMS queue client does not resolve here, so the request is built
// with the SDK's own request builder and converted by it, then signed.
type sdkTestSigner struct {
	ak, sk string
	// now is the client's clock (X-Sdk-Date); nil is time.Now.
	now func() time.Time
	// extra headers the client sends, and so signs.
	extra map[string]string
}

// build returns the SDK request for method base+path with a JSON body.
func (g *sdkTestSigner) build(t *testing.T, method, base, path, body string) *sdkrequest.DefaultHttpRequest {
	t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	b := sdkrequest.NewHttpRequestBuilder().WithEndpoint(base).WithPath(u.Path).WithMethod(method)
	for k, vs := range u.Query() {
		b.AddQueryParam(k, reflect.ValueOf(vs[0]))
	}
	if body != "" {
		b.AddHeaderParam("Content-Type", "application/json;charset=UTF-8").WithBody("", body)
	}
	now := time.Now
	if g.now != nil {
		now = g.now
	}
	b.AddHeaderParam(headerSDKDate, now().UTC().Format(sdkDateFormat))
	for k, v := range g.extra {
		b.AddHeaderParam(k, v)
	}
	return b.Build()
}

// sign returns the signed net/http request.
func (g *sdkTestSigner) sign(t *testing.T, method, base, path, body string) *http.Request {
	t.Helper()
	dr := g.build(t, method, base, path, body)
	headers, err := signer.Sign(dr, g.ak, g.sk)
	if err != nil {
		t.Fatalf("sdk signer: %v", err)
	}
	for k, v := range headers {
		dr.AddHeaderParam(k, v)
	}
	req, err := dr.ConvertRequest()
	if err != nil {
		t.Fatalf("sdk convert: %v", err)
	}
	return req
}

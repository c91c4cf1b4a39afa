package main

import (
	"bytes"
	"io"
	"net/http"
	"reflect"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	sdkrequest "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"
)

// sdkSign returns req signed with the official Huawei Cloud SDK's
// SDK-HMAC-SHA256 signer: rebuilt with the SDK's request builder, signed,
// converted back by the SDK.
func sdkSign(req *http.Request, ak, sk string) (*http.Request, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		body = b
	}
	b := sdkrequest.NewHttpRequestBuilder().
		WithEndpoint(req.URL.Scheme+"://"+req.URL.Host).
		WithPath(req.URL.Path).
		WithMethod(req.Method).
		AddHeaderParam("X-Sdk-Date", time.Now().UTC().Format("20060102T150405Z"))
	for k, vs := range req.URL.Query() {
		b.AddQueryParam(k, reflect.ValueOf(vs[0]))
	}
	if len(body) > 0 {
		b.AddHeaderParam("Content-Type", "application/json").WithBody("", string(body))
	}
	dr := b.Build()
	headers, err := signer.Sign(dr, ak, sk)
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		dr.AddHeaderParam(k, v)
	}
	out, err := dr.ConvertRequest()
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		out.Body, out.ContentLength = nil, 0
	} else {
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	return out, nil
}

package admission

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Objects and reviews come from whoever may create Pods: parsing them must
// never panic, and an object that is not read must be an error.
func FuzzImages(f *testing.F) {
	f.Add(0, []byte(`{"spec":`+podSpecJSON+`}`))
	f.Add(1, []byte(`{"spec":{"template":{"spec":`+podSpecJSON+`}}}`))
	f.Add(2, []byte(`{"spec":{"jobTemplate":null}}`))
	kinds := []metav1.GroupVersionKind{podKind, deploymentKind, cronJobKind}
	f.Fuzz(func(t *testing.T, k int, raw []byte) {
		if k < 0 {
			k = -k
		}
		imgs, err := Images(kinds[k%len(kinds)], raw)
		if err != nil && imgs != nil {
			t.Fatalf("images and an error: %+v", imgs)
		}
	})
}

func FuzzReview(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":{"spec":` + podSpecJSON + `}}}`))
	f.Add([]byte(`{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderRequest","request":{"keys":["a","b"]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, h := range []http.Handler{&Handler{Judge: judge, Deadline: deadline}, &Handler{Judge: judge, Mutate: true, Deadline: deadline}, &ExternalData{Judge: judge, Deadline: deadline}} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
		}
	})
}

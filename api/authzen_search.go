package api

// Wire types of the AuthZEN 1.0 search routes (docs/authzen.md#search).

// AuthZENPage asks for one page of a search: Token is the next_token of the previous page
// (absent for the first), Limit the most results to return (nil for the server's default;
// 0 is a page of no results). Every other member of the request, Limit and Properties
// included, must be the same on each page as on the first.
type AuthZENPage struct {
	Token      string         `json:"token,omitempty"`
	Limit      *int           `json:"limit,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
}

// AuthZENSearchRequest is the body of POST /access/v1/search/{subject,resource,action}.
// The member being searched carries only its type (subject, resource) or is absent (action).
type AuthZENSearchRequest struct {
	Subject  *AuthZENSubject  `json:"subject,omitempty"`
	Action   *AuthZENAction   `json:"action,omitempty"`
	Resource *AuthZENResource `json:"resource,omitempty"`
	Context  *AuthZENContext  `json:"context,omitempty"`
	Page     *AuthZENPage     `json:"page,omitempty"`
}

// AuthZENPageResult describes the page answered: NextToken is empty on the last page.
type AuthZENPageResult struct {
	NextToken string `json:"next_token"`
	Count     int    `json:"count"`
}

// AuthZENActionSearchResponse is the answer of POST /access/v1/search/action.
type AuthZENActionSearchResponse struct {
	Page    AuthZENPageResult `json:"page"`
	Results []AuthZENAction   `json:"results"`
}

// AuthZENResourceSearchResponse is the answer of POST /access/v1/search/resource.
type AuthZENResourceSearchResponse struct {
	Page    AuthZENPageResult `json:"page"`
	Results []AuthZENResource `json:"results"`
}

// AuthZENSubjectSearchResponse is the answer of POST /access/v1/search/subject.
type AuthZENSubjectSearchResponse struct {
	Page    AuthZENPageResult `json:"page"`
	Results []AuthZENSubject  `json:"results"`
}

// Search paging limits: a page.limit above the maximum is answered with at most the maximum.
const (
	DefaultAuthZENSearchLimit = 100
	MaxAuthZENSearchLimit     = 1000
)

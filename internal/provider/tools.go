package provider

import (
	"slices"
	"strconv"
)

// Server-side tools are capabilities: a model that may search the web,
// run code or call an MCP server reaches beyond the model itself, so the
// policy checks each tool a request asks for against what its feature
// allows. Request.Tools lists them under one name per capability:
//
//	OpenAI tools[].type            listed as
//	function, custom               (client-side: not listed)
//	namespace                      (a group of function tools: its tools are read)
//	web_search, web_search_preview web_search
//	computer_use_preview, computer computer_use
//	mcp                            mcp:<server_url>
//	anything else                  the type, without a _YYYY_MM_DD version
//	web_search_options (chat)      web_search
//	prompt (Responses: stored)     stored_prompt
//
//	Anthropic tools[].type         listed as
//	absent, custom                 (client-side: not listed)
//	mcp_toolset                    (tools of an mcp_servers entry, listed there)
//	<name>_YYYYMMDD                <name>: web_search, code_execution, bash, …
//	anything else                  the type
//	mcp_servers[].url              mcp:<url>
//
// Unknown types are listed as they are, so the policy refuses them unless
// an operator allowed that exact name: new tools fail closed. Both APIs'
// forms are read on every model endpoint, since OpenAI-compatible routers
// translate one into the other.
//
// Some tools carry a model of their own (the Responses image_generation
// tool's "model", Anthropic's advisor tool). It is not checked against the
// key's model scopes: allowing the tool allows the models it may use.

// readTools fills r.Tools.
func (r *Request) readTools() error {
	var tools []string
	for _, m := range r.members {
		v := r.body[m.val.start:m.val.end]
		var err error
		switch string(m.name) {
		case "tools":
			if r.API == APIAnthropic {
				err = anthropicTools(&tools, v)
			} else {
				err = openAITools(&tools, v, "tools")
			}
		case "web_search_options":
			if !isNull(v) {
				addTool(&tools, "web_search")
			}
		case "mcp_servers":
			err = mcpServers(&tools, v)
		case "prompt":
			// A stored prompt (Responses API) is kept at the provider and
			// may bring tools and instructions the gateway cannot see, so
			// it is a capability of its own.
			if !isNull(v) && r.Endpoint == "responses" {
				addTool(&tools, "stored_prompt")
			}
		}
		if err != nil {
			return err
		}
	}
	r.Tools = tools
	return nil
}

// addTool adds name to tools once. Lists are short: a linear search is
// cheapest.
func addTool(tools *[]string, name string) {
	if !slices.Contains(*tools, name) {
		*tools = append(*tools, name)
	}
}

// addToolBytes is addTool for a name still in the body, copied only when
// it is new.
func addToolBytes(tools *[]string, prefix string, name []byte) {
	for _, t := range *tools {
		if len(t) == len(prefix)+len(name) && t[:len(prefix)] == prefix && t[len(prefix):] == string(name) {
			return
		}
	}
	*tools = append(*tools, prefix+string(name))
}

// elemPath is the path of element i of the array at path. Paths are
// built only for error messages, so that the common case allocates none.
func elemPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// openAITools reads an OpenAI tools array at path.
func openAITools(tools *[]string, v []byte, path string) error {
	if isNull(v) {
		return nil
	}
	if v[0] != '[' {
		return &RequestError{Param: path, Message: path + " must be an array"}
	}
	for i, t := range elements(v) {
		typ, err := toolType(t, path, i, true)
		if err != nil {
			return err
		}
		switch name := openAIToolName(typ); string(name) {
		case "function", "custom":
		case "namespace":
			inner, _, err := memberValue(t, "tools", path, i)
			if err != nil {
				return err
			}
			if inner != nil {
				if err := openAITools(tools, inner, elemPath(path, i)+".tools"); err != nil {
					return err
				}
			}
		case "mcp":
			url, err := requiredString(t, "server_url", path, i,
				"an mcp tool needs its server_url (connectors are not supported)")
			if err != nil {
				return err
			}
			addToolBytes(tools, "mcp:", url)
		default:
			addToolBytes(tools, "", name)
		}
	}
	return nil
}

// openAIToolName normalizes an OpenAI tool type.
func openAIToolName(typ []byte) []byte {
	// Versioned types: web_search_preview_2025_03_11, web_search_2025_08_26.
	if n := len(typ) - len("_2025_03_11"); n > 0 && isDateSuffix(typ[n:], "_dddd_dd_dd") {
		typ = typ[:n]
	}
	switch string(typ) {
	case "web_search_preview":
		return []byte("web_search")
	case "computer_use_preview", "computer":
		return []byte("computer_use")
	}
	return typ
}

// anthropicTools reads an Anthropic tools array.
func anthropicTools(tools *[]string, v []byte) error {
	if isNull(v) {
		return nil
	}
	if v[0] != '[' {
		return &RequestError{Param: "tools", Message: "tools must be an array"}
	}
	for i, t := range elements(v) {
		typ, err := toolType(t, "tools", i, false)
		if err != nil {
			return err
		}
		switch string(typ) {
		case "", "custom", "mcp_toolset":
		default:
			// Server tools are versioned by date: web_search_20250305.
			if n := len(typ) - len("_20250305"); n > 0 && isDateSuffix(typ[n:], "_dddddddd") {
				typ = typ[:n]
			}
			addToolBytes(tools, "", typ)
		}
	}
	return nil
}

// mcpServers reads Anthropic's mcp_servers array.
func mcpServers(tools *[]string, v []byte) error {
	const path = "mcp_servers"
	if isNull(v) {
		return nil
	}
	if v[0] != '[' {
		return &RequestError{Param: path, Message: path + " must be an array"}
	}
	for i, s := range elements(v) {
		if s[0] != '{' {
			p := elemPath(path, i)
			return &RequestError{Param: p, Message: p + " must be an object"}
		}
		url, err := requiredString(s, "url", path, i, "an MCP server needs its url")
		if err != nil {
			return err
		}
		addToolBytes(tools, "mcp:", url)
	}
	return nil
}

// isDateSuffix reports whether s matches pattern, where 'd' stands for a
// digit and other bytes for themselves.
func isDateSuffix(s []byte, pattern string) bool {
	if len(s) != len(pattern) {
		return false
	}
	for i := range len(s) {
		if pattern[i] == 'd' && !isDigit(s[i]) || pattern[i] != 'd' && s[i] != pattern[i] {
			return false
		}
	}
	return true
}

// toolType reads the type of the tool t, element i of the array at path;
// nil when it has none and none is required.
func toolType(t []byte, path string, i int, required bool) ([]byte, error) {
	if t[0] != '{' {
		p := elemPath(path, i)
		return nil, &RequestError{Param: p, Message: p + " must be an object"}
	}
	v, typ, err := memberValue(t, "type", path, i)
	if err != nil {
		return nil, err
	}
	var problem string
	switch {
	case v == nil && required:
		problem = "is required"
	case v == nil:
		return nil, nil
	case v[0] != '"':
		problem = "must be a string"
	case len(typ) == 0:
		problem = "must not be empty"
	default:
		return typ, nil
	}
	p := elemPath(path, i) + ".type"
	return nil, &RequestError{Param: p, Message: p + " " + problem}
}

// requiredString reads the member name of obj, element i of the array at
// path, which must be a non-empty string; why says what it is needed
// for.
func requiredString(obj []byte, name, path string, i int, why string) ([]byte, error) {
	v, s, err := memberValue(obj, name, path, i)
	if err != nil {
		return nil, err
	}
	if v == nil || v[0] != '"' || len(s) == 0 {
		p := elemPath(path, i) + "." + name
		return nil, &RequestError{Param: p, Message: p + " must be a non-empty string: " + why}
	}
	return s, nil
}

// memberValue returns the value of the member name of obj, element i of
// the array at path (nil when absent or null) and, if it is a string,
// its decoded text. A case variant of name is refused.
func memberValue(obj []byte, name, path string, i int) ([]byte, []byte, error) {
	v, ok, variant := lookupStrict(obj, name)
	if variant != "" {
		return nil, nil, caseVariantError(variant, name, elemPath(path, i))
	}
	if !ok || isNull(v) {
		return nil, nil, nil
	}
	if v[0] == '"' {
		return v, unquoteBytes(v), nil
	}
	return v, nil, nil
}

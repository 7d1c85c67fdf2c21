package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const chatWithTools = `{
  "model": "gpt-4o-mini",
  "messages": [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What's the weather in Paris? Answer in \"quotes\" \u00e9\ud83d\ude00"}
  ],
  "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
  "tool_choice": "auto",
  "stream": true,
  "stream_options": {"include_usage": true},
  "max_completion_tokens": 512,
  "max_tokens": 256,
  "temperature": 0.7,
  "logit_bias": {"50256": -100},
  "web_search_options": {"search_context_size": "low"}
}`

const responsesWithMCP = `{"model":"gpt-4.1","input":[{"role":"user","content":"Roll 2d4+1"}],
 "tools":[{"type":"mcp","server_label":"dmcp","server_url":"https://dmcp-server.deno.dev/sse","require_approval":"never"},
  {"type":"web_search_preview"},{"type":"web_search_2025_08_26"},{"type":"file_search","vector_store_ids":["vs_1"]},
  {"type":"code_interpreter","container":{"type":"auto"}},{"type":"image_generation","quality":"low"},
  {"type":"computer_use_preview","display_width":1024,"display_height":768,"environment":"browser"},
  {"type":"local_shell"},{"type":"function","name":"f","parameters":{}},{"type":"custom","name":"g"},
  {"type":"namespace","name":"crm","description":"CRM","tools":[{"type":"function","name":"lookup"}]},
  {"type":"mcp","server_label":"other","server_url":"https://mcp.example.com/v1"},
  {"type":"brand_new_tool"}],
 "max_output_tokens":1000,"previous_response_id":"resp_123","store":false,"stream":false}`

const anthropicWithServerTools = `{"model":"claude-sonnet-4-20250514","max_tokens":1024,"system":"Be brief.",
 "messages":[{"role":"user","content":[{"type":"text","text":"Search the web"}]}],
 "tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5},
  {"type":"code_execution_20250522","name":"code_execution"},
  {"name":"get_stock_price","description":"price","input_schema":{"type":"object","properties":{"ticker":{"type":"string"}}}},
  {"type":"custom","name":"x","input_schema":{"type":"object"}},
  {"type":"bash_20250124","name":"bash"},{"type":"text_editor_20250124","name":"str_replace_editor"},
  {"type":"computer_20250124","name":"computer","display_width_px":1024,"display_height_px":768},
  {"type":"web_fetch_20250910","name":"web_fetch"},{"type":"mcp_toolset","mcp_server_name":"example"}],
 "mcp_servers":[{"type":"url","url":"https://mcp.example.com/sse","name":"example","authorization_token":"tok"}],
 "stream":true}`

const embeddings = `{"model":"text-embedding-3-small","input":["hello","world"],"encoding_format":"float"}`

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name     string
		api      API
		endpoint string
		body     string
		want     Request
		fields   map[string]string
	}{
		{"ChatWithTools", APIOpenAI, "chat.completions", chatWithTools, Request{Model: "gpt-4o-mini", Stream: true,
			MaxOutputTokens: 512, InputTokens: 38, Tools: []string{"web_search"}}, nil},
		{"ResponsesWithMCP", APIOpenAI, "responses", responsesWithMCP, Request{Model: "gpt-4.1", MaxOutputTokens: 1000,
			InputTokens: 73, Tools: []string{"mcp:https://dmcp-server.deno.dev/sse", "web_search", "file_search",
				"code_interpreter", "image_generation", "computer_use", "local_shell", "mcp:https://mcp.example.com/v1",
				"brand_new_tool"}}, map[string]string{"previous_response_id": "resp_123"}},
		{"AnthropicServerTools", APIAnthropic, "messages", anthropicWithServerTools, Request{
			Model: "claude-sonnet-4-20250514", Stream: true, MaxOutputTokens: 1024, InputTokens: 77,
			Tools: []string{"web_search", "code_execution", "bash", "text_editor", "computer", "web_fetch",
				"mcp:https://mcp.example.com/sse"}}, map[string]string{"system": "Be brief."}},
		{"Embeddings", APIOpenAI, "embeddings", embeddings, Request{Model: "text-embedding-3-small", InputTokens: 4}, nil},
		{"Completions", APIOpenAI, "completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","max_tokens":7}`,
			Request{Model: "gpt-3.5-turbo-instruct", MaxOutputTokens: 7, InputTokens: 5}, nil},
		{"EscapedModelAndKey", APIOpenAI, "chat.completions", `{"mod\u0065l":"gpt\u002d4o","messages":[]}`,
			Request{Model: "gpt-4o"}, nil},
		{"NullsAreAbsent", APIOpenAI, "chat.completions",
			`{"model":"m","stream":null,"max_tokens":null,"tools":null,"web_search_options":null,"mcp_servers":null}`,
			Request{Model: "m"}, nil},
		{"StoredPromptIsACapability", APIOpenAI, "responses", `{"model":"m","prompt":{"id":"pmpt_123","version":"2"}}`,
			Request{Model: "m", Tools: []string{"stored_prompt"}, InputTokens: 3}, nil},
		{"ToolsEmpty", APIAnthropic, "messages", `{"model":"m","tools":[],"mcp_servers":[]}`, Request{Model: "m"}, nil},
		{"MaxTokensLargest", APIOpenAI, "chat.completions", `{"model":"m","max_tokens":10,"max_output_tokens":30,"max_completion_tokens":20}`,
			Request{Model: "m", MaxOutputTokens: 30}, nil},
		{"DuplicateToolsOnce", APIOpenAI, "responses", `{"model":"m","tools":[{"type":"web_search"},{"type":"web_search_preview"}],"web_search_options":{}}`,
			Request{Model: "m", Tools: []string{"web_search"}, InputTokens: 7}, nil},
		{"Whitespace", APIOpenAI, "chat.completions", " \t\r\n{ \"model\" : \"m\" , \"x\" : [ 1 , 2.5e-3 , -0 , true , false , null ] } \n",
			Request{Model: "m"}, nil},
		{"ManyMembers", APIOpenAI, "chat.completions", manyMembers(200, ""), Request{Model: "m"}, nil},
		{"Depth64", APIOpenAI, "chat.completions", `{"model":"m","x":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}`,
			Request{Model: "m"}, nil},
		{"HTTPDataset", APIHTTP, "POST /v1/retrieve", `{"dataset":"hr-docs","query":"vacation policy","top_k":5}`,
			Request{InputTokens: 6}, map[string]string{"dataset": "hr-docs"}},
		{"HTTPModelNotString", APIHTTP, "POST /v1/retrieve", `{"model":5,"models":["a"],"tools":[{"type":"x"}]}`,
			Request{InputTokens: 1}, nil},
		{"HTTPModelString", APIHTTP, "POST /v1/retrieve", `{"model":"any thing é"}`, Request{Model: "any thing é"}, nil},
		{"Choices", APIOpenAI, "chat.completions", `{"model":"m","n":3}`, Request{Model: "m", Choices: 3}, nil},
		{"ChoicesBestOf", APIOpenAI, "completions", `{"model":"m","n":2,"best_of":5}`, Request{Model: "m", Choices: 5}, nil},
		{"ChoicesNull", APIOpenAI, "chat.completions", `{"model":"m","n":null}`, Request{Model: "m", Choices: 1}, nil},
		{"ChoicesNotOpenAI", APIAnthropic, "messages", `{"model":"m","n":"x"}`, Request{Model: "m", InputTokens: 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest(tt.api, tt.endpoint, []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			tt.want.API, tt.want.Endpoint = tt.api, tt.endpoint
			if tt.want.Choices == 0 {
				tt.want.Choices = 1
			}
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreUnexported(Request{})); diff != "" {
				t.Errorf("ParseRequest mismatch (-want +got):\n%s", diff)
			}
			if est := estimateTokens(t, []byte(tt.body)); got.InputTokens != est {
				t.Errorf("InputTokens = %d, want %d from encoding/json", got.InputTokens, est)
			}
			for k, want := range tt.fields {
				if v, ok := got.Field(k); !ok || v != want {
					t.Errorf("Field(%q) = %q, %v; want %q, true", k, v, ok, want)
				}
			}
			checkCanonical(t, got, []byte(tt.body))
		})
	}
}

// manyMembers is an object with a model and n other members, the last
// one named last if that is not "".
func manyMembers(n int, last string) string {
	var b strings.Builder
	b.WriteString(`{"model":"m"`)
	for i := range n {
		name := "member" + strconv.Itoa(i)
		b.WriteString(`,"` + name + `":1`)
	}
	if last != "" {
		b.WriteString(`,"` + last + `":1`)
	}
	b.WriteString("}")
	return b.String()
}

func TestParseRequestRefused(t *testing.T) {
	deep := `{"model":"m","x":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`
	tests := []struct {
		name      string
		api       API
		body      string
		wantParam string
		wantMsg   string
	}{
		{"Empty", APIOpenAI, "", "", "request body is empty"},
		{"OnlySpace", APIOpenAI, " \n ", "", "request body is empty"},
		{"Array", APIOpenAI, `[{"model":"m"}]`, "", "is a JSON array"},
		{"String", APIOpenAI, `"model"`, "", "must be one JSON object"},
		{"Null", APIOpenAI, `null`, "", "must be one JSON object"},
		{"TrailingObject", APIOpenAI, `{"model":"m"} {"model":"n"}`, "", "data after the JSON object"},
		{"TrailingNewlineObject", APIOpenAI, "{\"model\":\"m\"}\n{}", "", "data after the JSON object"},
		{"TrailingGarbage", APIOpenAI, `{"model":"m"}x`, "", "data after the JSON object"},
		{"TrailingBracket", APIOpenAI, `{"model":"m"}]`, "", "data after the JSON object"},
		{"TrailingInvalidUTF8", APIOpenAI, "{\"model\":\"m\"} \xff", "", "not valid UTF-8"},
		{"Unterminated", APIOpenAI, `{"model":"m"`, "", "ends early"},
		{"UnterminatedString", APIOpenAI, `{"model":"m`, "model", "ends early"},
		{"BOM", APIOpenAI, "\xEF\xBB\xBF{\"model\":\"m\"}", "", "byte order mark"},
		{"InvalidUTF8Value", APIOpenAI, "{\"model\":\"m\",\"s\":\"a\xffb\"}", "s", "not valid UTF-8"},
		{"InvalidUTF8Key", APIOpenAI, "{\"model\":\"m\",\"\xc3\":1}", "", "not valid UTF-8"},
		{"InvalidUTF8Outside", APIOpenAI, "{\"model\":\"m\",\xff}", "", "not valid UTF-8"},
		{"OverlongUTF8", APIOpenAI, "{\"model\":\"m\",\"s\":\"\xc0\xaf\"}", "s", "not valid UTF-8"},
		{"SurrogateInUTF8", APIOpenAI, "{\"model\":\"m\",\"s\":\"\xed\xa0\x80\"}", "s", "not valid UTF-8"},
		{"LoneHighSurrogate", APIOpenAI, `{"model":"m","s":"\ud83d"}`, "s", "unpaired UTF-16 surrogate"},
		{"LoneLowSurrogate", APIOpenAI, `{"model":"m","s":"\ude00x"}`, "s", "unpaired UTF-16 surrogate"},
		{"HighThenNotLow", APIOpenAI, `{"model":"m","s":"\ud83d\u0041"}`, "s", "unpaired UTF-16 surrogate"},
		{"SurrogateInKey", APIOpenAI, `{"model":"m","\ud800":1}`, "", "unpaired UTF-16 surrogate"},
		{"ControlChar", APIOpenAI, "{\"model\":\"m\",\"s\":\"a\nb\"}", "s", "control character U+000A"},
		{"BadEscape", APIOpenAI, `{"model":"m","s":"\x41"}`, "s", "invalid escape"},
		{"BadUnicodeEscape", APIOpenAI, `{"model":"m","s":"\u12G4"}`, "s", `invalid \u escape`},
		{"TooDeep", APIOpenAI, deep, "x" + strings.Repeat("[0]", 63), "deeper than 64 levels"},
		{"DuplicateModel", APIOpenAI, `{"model":"a","model":"b"}`, "model", `duplicate member "model"`},
		{"DuplicateEscapedModel", APIOpenAI, `{"model":"a","mod\u0065l":"b"}`, "model", `duplicate member "model"`},
		{"DuplicateNested", APIOpenAI, `{"model":"m","messages":[{"role":"user","content":"a","content":"b"}]}`,
			"messages[0].content", `duplicate member "content"; member names must be unique (in messages[0])`},
		{"DuplicateDeepMap", APIOpenAI, `{"model":"m","x":{` + strings.TrimPrefix(manyMembers(40, "member0"), `{"model":"m",`) + "}", "x.member0", `duplicate member "member0"`},
		{"CaseVariantModel", APIOpenAI, `{"model":"a","MODEL":"b"}`, "MODEL", `member "MODEL" differs from member "model" only in letter case`},
		{"CaseVariantModelFirst", APIOpenAI, `{"Model":"b","model":"a"}`, "model", `member "model" differs from member "Model" only in letter case`},
		{"CaseVariantAlone", APIOpenAI, `{"MODEL":"b","messages":[]}`, "MODEL", `member "MODEL" differs from "model" only in letter case; send "model"`},
		{"CaseVariantAloneHTTP", APIHTTP, `{"Model":"b"}`, "Model", `differs from "model" only in letter case`},
		{"CaseVariantStream", APIOpenAI, `{"model":"m","Stream":true}`, "Stream", `differs from "stream"`},
		{"CaseVariantLongS", APIOpenAI, `{"model":"m","\u017ftream":true}`, `"\u017ftream"`, `differs from "stream"`},
		{"CaseVariantTools", APIAnthropic, `{"model":"m","TOOLS":[{"type":"web_search_20250305"}]}`, "TOOLS", `differs from "tools"`},
		{"CaseVariantMaxTokens", APIAnthropic, `{"model":"m","Max_Tokens":1}`, "Max_Tokens", `differs from "max_tokens"`},
		{"CaseVariantNested", APIOpenAI, `{"model":"m","x":{"type":"a","TYPE":"b"}}`, "x.TYPE", `only in letter case`},
		{"CaseVariantKelvin", APIOpenAI, `{"model":"m","x":{"k":1,"\u212a":2}}`, `x."\u212a"`, `only in letter case`},
		{"CaseVariantDeepMap", APIOpenAI, `{"model":"m","x":{` + strings.TrimPrefix(manyMembers(40, "MEMBER7"), `{"model":"m",`) + "}", "x.MEMBER7", `member "MEMBER7" differs from member "member7" only in letter case`},
		{"CaseVariantToolType", APIAnthropic, `{"model":"m","tools":[{"Type":"web_search_20250305","name":"w"}]}`, "tools[0].Type", `differs from "type" only in letter case (in tools[0])`},
		{"CaseVariantServerURL", APIOpenAI, `{"model":"m","tools":[{"type":"mcp","server_url":"https://a","Server_URL":"https://b"}]}`, "tools[0].Server_URL", "only in letter case"},
		{"ModelMissing", APIOpenAI, `{"messages":[]}`, "model", "model is required"},
		{"ModelMissingAnthropic", APIAnthropic, `{"max_tokens":1}`, "model", "model is required"},
		{"ModelNumber", APIOpenAI, `{"model":4}`, "model", "model must be a JSON string"},
		{"ModelNull", APIOpenAI, `{"model":null}`, "model", "model must be a JSON string"},
		{"ModelArray", APIAnthropic, `{"model":["a","b"]}`, "model", "model must be a JSON string"},
		{"ModelEmpty", APIOpenAI, `{"model":""}`, "model", "model must not be empty"},
		{"ModelSpace", APIOpenAI, `{"model":"gpt 4o"}`, "model", `model "gpt 4o" contains a space at byte 3; model ids are printable ASCII`},
		{"ModelLeadingSpace", APIOpenAI, `{"model":" gpt-4o"}`, "model", "contains a space at byte 0"},
		{"ModelTrailingNewline", APIOpenAI, `{"model":"gpt-4o\n"}`, "model", `model "gpt-4o\n" contains U+000A at byte 6`},
		{"ModelTab", APIOpenAI, `{"model":"gpt-4o\t"}`, "model", "contains U+0009"},
		{"ModelNUL", APIOpenAI, `{"model":"gpt-4o\u0000"}`, "model", "contains U+0000"},
		{"ModelDEL", APIOpenAI, `{"model":"gpt-4o\u007f"}`, "model", "contains U+007F"},
		{"ModelZeroWidth", APIOpenAI, `{"model":"gpt-4o\u200b"}`, "model", `model "gpt-4o\u200b" contains U+200B at byte 6`},
		{"ModelZeroWidthRaw", APIOpenAI, "{\"model\":\"gpt\u200d-4o\"}", "model", "contains U+200D at byte 3"},
		{"ModelBOMInside", APIOpenAI, `{"model":"\ufeffgpt-4o"}`, "model", "contains U+FEFF at byte 0"},
		{"ModelCyrillic", APIOpenAI, "{\"model\":\"g\u0440t-4o\"}", "model", "contains U+0440 at byte 1"},
		{"ModelHyphenLookAlike", APIOpenAI, "{\"model\":\"gpt\u20104o\"}", "model", "contains U+2010"},
		{"ModelFullwidth", APIAnthropic, "{\"model\":\"\uff43laude\"}", "model", "contains U+FF43"},
		{"ModelNBSP", APIOpenAI, `{"model":"gpt-4o\u00a0"}`, "model", "contains U+00A0"},
		{"ModelTooLong", APIOpenAI, `{"model":"` + strings.Repeat("a", 257) + `"}`, "model", "longer than 256 bytes"},
		{"Models", APIOpenAI, `{"model":"m","models":["a","b"]}`, "models", "models names other models"},
		{"Fallbacks", APIOpenAI, `{"model":"m","fallbacks":["b"]}`, "fallbacks", "names other models"},
		{"FallbackModels", APIAnthropic, `{"model":"m","fallback_models":["b"]}`, "fallback_models", "names other models"},
		{"ModelList", APIOpenAI, `{"model":"m","model_list":[{"model_name":"x"}]}`, "model_list", "names other models"},
		{"ModelsCaseVariant", APIOpenAI, `{"model":"m","Models":["b"]}`, "Models", `differs from "models"`},
		{"ExtraBodyModel", APIOpenAI, `{"model":"m","extra_body":{"model":"b"}}`, "extra_body.model", "names other models"},
		{"ExtraBodyModels", APIOpenAI, `{"model":"m","extra_body":{"top_k":1,"models":["b"]}}`, "extra_body.models", "names other models"},
		{"ExtraBodyModelCase", APIOpenAI, `{"model":"m","extra_body":{"MODEL":"b"}}`, "extra_body.MODEL", "names other models"},
		{"StreamString", APIOpenAI, `{"model":"m","stream":"true"}`, "stream", "stream must be true or false"},
		{"StreamNumber", APIOpenAI, `{"model":"m","stream":1}`, "stream", "stream must be true or false"},
		{"MaxTokensNegative", APIOpenAI, `{"model":"m","max_tokens":-1}`, "max_tokens", "max_tokens must be a non-negative integer"},
		{"ChoicesZero", APIOpenAI, `{"model":"m","n":0}`, "n", "n must be an integer from 1 to 128"},
		{"ChoicesTooMany", APIOpenAI, `{"model":"m","best_of":129}`, "best_of", "best_of must be an integer from 1 to 128"},
		{"ChoicesString", APIOpenAI, `{"model":"m","n":"2"}`, "n", "n must be an integer"},
		{"ChoicesCaseVariant", APIOpenAI, `{"model":"m","N":2}`, "N", "N"},
		{"MaxTokensFraction", APIOpenAI, `{"model":"m","max_completion_tokens":1.5}`, "max_completion_tokens", "non-negative integer"},
		{"MaxTokensExponent", APIOpenAI, `{"model":"m","max_output_tokens":1e3}`, "max_output_tokens", "non-negative integer"},
		{"MaxTokensString", APIAnthropic, `{"model":"m","max_tokens":"100"}`, "max_tokens", "non-negative integer"},
		{"MaxTokensOverflow", APIAnthropic, `{"model":"m","max_tokens":99999999999999999999}`, "max_tokens", "max_tokens is too large"},
		{"ToolsNotArray", APIOpenAI, `{"model":"m","tools":{"type":"web_search"}}`, "tools", "tools must be an array"},
		{"ToolNotObject", APIOpenAI, `{"model":"m","tools":["web_search"]}`, "tools[0]", "tools[0] must be an object"},
		{"ToolNoType", APIOpenAI, `{"model":"m","tools":[{"type":"function"},{"name":"f"}]}`, "tools[1].type", "tools[1].type is required"},
		{"ToolTypeNumber", APIAnthropic, `{"model":"m","tools":[{"type":7}]}`, "tools[0].type", "must be a string"},
		{"ToolTypeEmpty", APIOpenAI, `{"model":"m","tools":[{"type":""}]}`, "tools[0].type", "must not be empty"},
		{"MCPNoServerURL", APIOpenAI, `{"model":"m","tools":[{"type":"mcp","server_label":"x","connector_id":"connector_gmail"}]}`,
			"tools[0].server_url", "tools[0].server_url must be a non-empty string: an mcp tool needs its server_url"},
		{"MCPEmptyServerURL", APIOpenAI, `{"model":"m","tools":[{"type":"mcp","server_url":""}]}`, "tools[0].server_url", "non-empty string"},
		{"MCPServerURLNumber", APIOpenAI, `{"model":"m","tools":[{"type":"mcp","server_url":1}]}`, "tools[0].server_url", "non-empty string"},
		{"NamespaceCaseVariant", APIOpenAI, `{"model":"m","tools":[{"type":"namespace","Tools":[{"type":"web_search"}]}]}`, "tools[0].Tools", "only in letter case"},
		{"NamespaceInnerMCP", APIOpenAI, `{"model":"m","tools":[{"type":"namespace","tools":[{"type":"mcp"}]}]}`, "tools[0].tools[0].server_url", "non-empty string"},
		{"MCPServersNotArray", APIAnthropic, `{"model":"m","mcp_servers":{"url":"https://a"}}`, "mcp_servers", "must be an array"},
		{"MCPServerNotObject", APIAnthropic, `{"model":"m","mcp_servers":["https://a"]}`, "mcp_servers[0]", "must be an object"},
		{"MCPServerNoURL", APIAnthropic, `{"model":"m","mcp_servers":[{"type":"url","name":"x"}]}`, "mcp_servers[0].url", "an MCP server needs its url"},
		{"MCPServerURLCase", APIAnthropic, `{"model":"m","mcp_servers":[{"URL":"https://a"}]}`, "mcp_servers[0].URL", "only in letter case"},
		{"LeadingZero", APIOpenAI, `{"model":"m","n":01}`, "", "unexpected '1'"},
		{"PlusSign", APIOpenAI, `{"model":"m","n":+1}`, "n", "expected a value"},
		{"BareDot", APIOpenAI, `{"model":"m","n":.5}`, "n", "expected a value"},
		{"TrailingDot", APIOpenAI, `{"model":"m","n":1.}`, "n", "expected a digit after the decimal point"},
		{"EmptyExponent", APIOpenAI, `{"model":"m","n":1e}`, "n", "expected a digit in the exponent"},
		{"MinusAlone", APIOpenAI, `{"model":"m","n":-}`, "n", "expected a digit"},
		{"NaN", APIOpenAI, `{"model":"m","n":NaN}`, "n", "expected a value"},
		{"Infinity", APIOpenAI, `{"model":"m","n":Infinity}`, "n", "expected a value"},
		{"ShortLiteral", APIOpenAI, `{"model":"m","b":tru}`, "b", "expected a value"},
		{"CapitalLiteral", APIOpenAI, `{"model":"m","b":True}`, "b", "expected a value"},
		{"LongLiteral", APIOpenAI, `{"model":"m","b":truex}`, "", "unexpected 'x'"},
		{"TrailingComma", APIOpenAI, `{"model":"m",}`, "", "expected a member name"},
		{"TrailingCommaArray", APIOpenAI, `{"model":"m","a":[1,]}`, "a[1]", "expected a value"},
		{"MissingColon", APIOpenAI, `{"model" "m"}`, "", "expected ':'"},
		{"MissingComma", APIOpenAI, `{"model":"m" "a":1}`, "", "expected ',' or '}'"},
		{"SingleQuotes", APIOpenAI, `{'model':'m'}`, "", "expected a member name"},
		{"Comment", APIOpenAI, `{"model":"m" /* hi */}`, "", "unexpected '/'"},
		{"UnquotedKey", APIOpenAI, `{model:"m"}`, "", "expected a member name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint := "chat.completions"
			if tt.api == APIAnthropic {
				endpoint = "messages"
			}
			r, err := ParseRequest(tt.api, endpoint, []byte(tt.body))
			if err == nil {
				t.Fatalf("ParseRequest(%q) = %+v, want an error", tt.body, r)
			}
			re, ok := errors.AsType[*RequestError](err)
			if !ok {
				t.Fatalf("ParseRequest(%q) error %T %v, want *RequestError", tt.body, err, err)
			}
			if re.Param != tt.wantParam || !strings.Contains(re.Message, tt.wantMsg) {
				t.Errorf("ParseRequest(%q) = {Param: %q, Message: %q}, want {Param: %q, Message containing %q}",
					tt.body, re.Param, re.Message, tt.wantParam, tt.wantMsg)
			}
		})
	}
}

func TestParseRequestUnknownAPI(t *testing.T) {
	_, err := ParseRequest("grpc", "x", []byte(`{}`))
	if _, ok := errors.AsType[*RequestError](err); err == nil || ok {
		t.Errorf("ParseRequest(unknown API) = %v, want a plain error", err)
	}
}

func TestCanonical(t *testing.T) {
	r, err := ParseRequest(APIOpenAI, "chat.completions",
		[]byte(" {\"messages\" : [ 1,2 ] ,\n \"mod\\u0065l\":\"chatbot-v1\", \"x\\u0041\":{\"a\" : \"\\u00e9\"}} "))
	if err != nil {
		t.Fatal(err)
	}
	got := string(r.Canonical(`gpt-4o-mini-2024-07-18`))
	want := `{"messages":[ 1,2 ],"model":"gpt-4o-mini-2024-07-18","x\u0041":{"a" : "\u00e9"}}`
	if got != want {
		t.Errorf("Canonical = %s, want %s", got, want)
	}
	// A model needing escapes is encoded as JSON.
	if got, want := string(r.Canonical("a\"b\\c\n")), `{"messages":[ 1,2 ],"model":"a\"b\\c\u000a","x\u0041":{"a" : "\u00e9"}}`; got != want {
		t.Errorf("Canonical = %s, want %s", got, want)
	}
	// Without a model member, the members are unchanged.
	r, err = ParseRequest(APIHTTP, "POST /v1/retrieve", []byte(`{"model":{"x":1}, "dataset":"hr"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(r.Canonical("other")), `{"model":{"x":1},"dataset":"hr"}`; got != want {
		t.Errorf("Canonical = %s, want %s", got, want)
	}
}

// checkCanonical checks the properties of r.Canonical: valid JSON, equal
// to body but for the model, members in order and byte for byte.
func checkCanonical(t *testing.T, r *Request, body []byte) {
	t.Helper()
	const model = "canonical-model-1"
	out := r.Canonical(model)
	if !json.Valid(out) {
		t.Fatalf("Canonical = %s: not valid JSON", out)
	}
	var want, got map[string]any
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := want["model"].(string); ok {
		want["model"] = model
	}
	// reflect.DeepEqual first: cmp.Diff is slow on deep nesting.
	if !reflect.DeepEqual(want, got) {
		t.Errorf("Canonical decodes differently (-want +got):\n%s", cmp.Diff(want, got))
	}
	r2, err := ParseRequest(r.API, r.Endpoint, out)
	if err != nil {
		t.Fatalf("ParseRequest(Canonical) = %v", err)
	}
	if len(r2.members) != len(r.members) {
		t.Fatalf("Canonical has %d members, want %d", len(r2.members), len(r.members))
	}
	for i, m := range r.members {
		m2 := r2.members[i]
		if !bytes.Equal(m2.name, m.name) {
			t.Errorf("Canonical member %d is %q, want %q", i, m2.name, m.name)
		}
		if i == r.model {
			continue
		}
		if a, b := body[m.val.start:m.val.end], out[m2.val.start:m2.val.end]; !bytes.Equal(a, b) {
			t.Errorf("Canonical member %q = %s, want %s byte for byte", m.name, b, a)
		}
	}
}

// estimateTokens is InputTokens computed with encoding/json.
func estimateTokens(t testing.TB, body []byte) int64 {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	var n int64
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			n += int64(len(v))
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	top := v.(map[string]any)
	if m, ok := top["model"].(string); ok {
		n -= int64(len(m))
	}
	walk(top)
	return (n + 3) / 4
}

func TestField(t *testing.T) {
	r, err := ParseRequest(APIHTTP, "POST /v1/retrieve", []byte(`{"dataset":"hr\u002ddocs","k":5,"n":null,"o":{"dataset":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		want string
		ok   bool
	}{{"dataset", "hr-docs", true}, {"k", "", false}, {"n", "", false}, {"o", "", false}, {"Dataset", "", false}, {"missing", "", false}} {
		if got, ok := r.Field(tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("Field(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func BenchmarkParseRequest(b *testing.B) {
	body := []byte(benchChatBody)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(APIOpenAI, "chat.completions", body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonical(b *testing.B) {
	r, err := ParseRequest(APIOpenAI, "chat.completions", []byte(benchChatBody))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Canonical("gpt-4o-mini-2024-07-18")
	}
}

// benchChatBody is a typical chat completion request of about 1 KB.
const benchChatBody = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a concise assistant for an internal engineering team. Answer with short paragraphs and code where useful."},{"role":"user","content":"Our service times out when the database is slow. How should we set timeouts for the HTTP server and the database client so that requests fail fast but long reports still work?"},{"role":"assistant","content":"Use a short server-side deadline per request, and pass the request context to the database client so queries are cancelled when the deadline passes. For reports, use a separate route with a longer deadline."},{"role":"user","content":"Show me how to do that with net/http and database/sql in Go, with a 5 second default and 60 seconds for /reports."}],"temperature":0.2,"top_p":1,"max_tokens":800,"stream":true,"stream_options":{"include_usage":true},"user":"user-1234","tools":[{"type":"function","function":{"name":"search_docs","description":"Search the internal docs","parameters":{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}}}]}`

// TestParseRequestLargeObject checks that checking names stays linear: an
// object with 100,000 members would take minutes if each name were
// compared with every other.
func TestParseRequestLargeObject(t *testing.T) {
	body := manyMembers(100_000, "")
	if _, err := ParseRequest(APIOpenAI, "chat.completions", []byte(body)); err != nil {
		t.Fatalf("ParseRequest: %v", err)
	}
	body = strings.TrimSuffix(body, "}") + `,"MEMBER4242":2}`
	_, err := ParseRequest(APIOpenAI, "chat.completions", []byte(body))
	if re, ok := errors.AsType[*RequestError](err); !ok || re.Param != "MEMBER4242" {
		t.Fatalf("ParseRequest = %v, want a case-variant error for MEMBER4242", err)
	}
}

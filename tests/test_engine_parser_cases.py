"""Model outputs from the serving engines' own tool-parser tests, read by bailbench.

Each case is (format, reply, names, truncated): the reply as the engine's test feeds it to its
parser, and what bailbench reads from it on the path a reply takes in the tool method (thinking
removed by `methods.thinking`, then `chat.toolcalls.read_calls`). The expected names are the
engine's, except where DESIGN §1 or the engines' majority decides otherwise: each such case says
so. `truncated` counts the calls that were opened and do not parse (no call for the engines).
Sources: llama.cpp tests/test-chat.cpp; vLLM tests/tool_parsers/; SGLang
test/srt/test_function_call_parser.py; ollama tools/tools_test.go.
"""
# ruff: noqa: E501

from __future__ import annotations

import pytest

from bailbench.chat.toolcalls import FORMATS, read_calls
from bailbench.methods.thinking import strip_thinking
from bailbench.methods.tool import read_tool_call

H = "hermes"
SF = '{"name": "special_function", "arguments": {"arg1": 1}}'
Q3 = "<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n<parameter=unit>\nfahrenheit\n</parameter>\n</function>\n</tool_call>"
Q3B = "<tool_call>\n<function=get_current_weather>\n<parameter=city>\nOrlando\n</parameter>\n<parameter=state>\nFL\n</parameter>\n</function>\n</tool_call>"
G = "<tool_call>get_current_weather\n    <arg_key>city</arg_key>\n    <arg_value>Dallas</arg_value>\n    <arg_key>state</arg_key>\n    <arg_value>TX</arg_value>\n    </tool_call>"
def K(i, a):
    return f"<|tool_call_begin|>{i} <|tool_call_argument_begin|>{a}<|tool_call_end|>"


def KW(*t):
    return "<|tool_calls_section_begin|>" + "".join(t) + "<|tool_calls_section_end|>"


KS = '<|tool_calls_section_begin|><|tool_call_begin|>functions.special_function:0<|tool_call_argument_begin|>{"arg1": 1}<|tool_call_end|><|tool_calls_section_end|>'
MM = '<minimax:tool_call>\n<invoke name="special_function">\n<parameter name="arg1">1</parameter>\n</invoke>\n</minimax:tool_call>'
GPT = "<|channel|>analysis<|message|>I'm\nthinking<|end|>"
def W(t):
    return f"<|tool_call_start|>[{t}]<|tool_call_end|>"


FC, FE = "<｜DSML｜function_calls>", "</｜DSML｜function_calls>"
T1 = '{"name": "get_current_weather", "arguments": {"format":"fahrenheit","location":"San Francisco, CA"}}'
T2 = '{"name": "get_current_weather", "arguments": {"format":"celsius","location":"Toronto, Canada"}}'

CASES = [
 # vllm tests/tool_parsers/test_hermes_tool_parser.py
 (H, "This is some prior text that has nothing to do with tool calling.", (), 0),
 (H, '<tool_call>\n{"name": "final_answer", "arguments": {"trigger": true}}\n</tool_call>', ("final_answer",), 0),
 (H, '<tool_call>{"name": "get_current_temperature","arguments": {"location":"San Francisco, California, United States", "unit": "celsius"}}</tool_call>', ("get_current_temperature",), 0),
 (H, 'Sure, let me check the weather.<tool_call>{"name": "get_weather", "arguments": {"city": "NYC"}}</tool_call>', ("get_weather",), 0),
 (H, '<tool_call>{"name": "search", "arguments": {"q": "cats"}}</tool_call><tool_call>{"name": "search", "arguments": {"q": "dogs"}}</tool_call>', ("search", "search"), 0),
 (H, "This is not a tool call.", (), 0),
 (H, '<tool_call>\n{"name": "final_answer", "arguments": {"trigger": true}}', ("final_answer",), 0),  # vLLM's hermes (the authors' parser) reads a complete call whose </tool_call> never came, as tests/test_detection.py does; its Granite 4 parser and SGLang's Qwen25Detector do not
 (H, '<tool_call>\n{"name": "final_answer", "arguments": {"trigger": true}', (), 1),
 (H, '<tool_call>\n{"name": "get_db_config", "arguments": "{\\"param\\": \\"max_connections\\"}"}\n</tool_call>', ("get_db_config",), 0),
 (H, '<tool_call>\n{"name": "do_thing", "arguments": "hello"}\n</tool_call>', ("do_thing",), 0),
 # vllm tests/tool_parsers/test_llama3_json_tool_parser.py
 ("llama3", 'Here is the result: {"name": "getOpenIncidentsTool", "parameters": {}} Would you like to know more?', ("getOpenIncidentsTool",), 0),
 ("llama3", '{"name": "searchTool", "parameters": {"query": "test query", "limit": 10}}', ("searchTool",), 0),
 ("llama3", "This is just some text without any tool calls", (), 0),
 ("llama3", '{"name": "invalidTool", "parameters": {invalid json}', (), 1),  # no call; opened and malformed, so counted cut off
 ("llama3", '{"name": "searchTool", "arguments": {"query": "test"}}', ("searchTool",), 0),
 ("llama3", '{"name": "searchTool", "parameters": {"query": "test1"}}; {"name": "getOpenIncidentsTool", "parameters": {}}; {"name": "searchTool", "parameters": {"query": "test2"}}', ("searchTool", "getOpenIncidentsTool", "searchTool"), 0),
 ("llama3", '{"name": "searchTool", "parameters": {"query": "test1"}} ; {"name": "getOpenIncidentsTool", "parameters": {}} ; {"name": "searchTool", "parameters": {"query": "test2"}}', ("searchTool", "getOpenIncidentsTool", "searchTool"), 0),
 ("llama3", 'Here are the results: {"name": "searchTool", "parameters": {"query": "test1"}}; {"name": "getOpenIncidentsTool", "parameters": {}}; {"name": "searchTool", "parameters": {"query": "test2"}} Would you like to know more?', ("searchTool", "getOpenIncidentsTool", "searchTool"), 0),
 ("llama3", '{"name": "complexTool", "parameters": {"level1": {"level2": {"level3": {"level4": {"value": "deep"}}}}}}', ("complexTool",), 0),
 ("llama3", '{"name": "simpleTool", "parameters": {"value": "test"}}; {"name": "complexTool", "parameters": {"config": {"database": {"connection": {"pool": {"size": 10}}}}}}', ("simpleTool", "complexTool"), 0),
 ("llama3", '{"name": "searchTool", "parameters": {"query": "test {value} [complex]","nested": {"inner": "more {brackets}"}}}', ("searchTool",), 0),
 ("llama3", '{"name": "parserTool", "parameters": {"text": "He said \\"Hello {world}\\""}}', ("parserTool",), 0),
 ("llama3", '{"parameters": {}}', (), 0),
 ("llama3", '{"name": "toolWithoutParams"}', (), 1),  # vLLM: no call without parameters/arguments (bailbench read a call before)
 ("llama3", '{"name": "searchTool", "parameters": {"query": "test"}} I used {searchTool} for this.', ("searchTool",), 0),
 ("llama3", '{"name": "searchTool", "parameters": {"query": "test"}} The arguments I passed were {"query": "test"}', ("searchTool",), 0),
 ("llama3", '{"name": "searchTool", "parameters": {"query": "test1"}}; {"name": "getOpenIncidentsTool", "parameters": {}}', ("searchTool", "getOpenIncidentsTool"), 0),
 ("llama3", '{"name": "searchTool", "parameters": {"query": "test1"}};{"name": "getOpenIncidentsTool", "parameters": {}}', ("searchTool", "getOpenIncidentsTool"), 0),
 ("llama3", '{"name": "searchTool", "parameters": {"query": "test1"}};\n{"name": "getOpenIncidentsTool", "parameters": {}}', ("searchTool", "getOpenIncidentsTool"), 0),
 ("llama3", '{"name": "searchTool", "parameters": {"query": "test1"}}\n{"name": "getOpenIncidentsTool", "parameters": {}}', ("searchTool", "getOpenIncidentsTool"), 0),
 # vllm tests/tool_parsers/test_mistral_tool_parser.py (pre-v11 JSON list, v11 NAME{args})
 ("mistral", "This is a test", (), 0),
 ("mistral", '[TOOL_CALLS][{"name": "add", "arguments":{"a": 3.5, "b": 4}}]', ("add",), 0),
 ("mistral", '[TOOL_CALLS] [{"name": "get_current_weather", "arguments":{"city": "San Francisco", "state": "CA", "unit": "celsius"}}]', ("get_current_weather",), 0),
 ("mistral", '[TOOL_CALLS] [{"arguments":{"city": "San Francisco", "state": "CA", "unit": "celsius"}, "name": "get_current_weather"}]', ("get_current_weather",), 0),
 ("mistral", '[TOOL_CALLS] [{"arguments":{"name": "John Doe"}, "name": "get_age"}]', ("get_age",), 0),
 ("mistral", '[TOOL_CALLS] [{"name": "add", "arguments": {"a": 3.5, "b": 4}}, {"name": "get_current_weather", "arguments":{"city": "San Francisco", "state": "CA", "unit": "celsius"}}]', ("add", "get_current_weather"), 0),
 ("mistral", 'Hello[TOOL_CALLS] [{"name": "add", "arguments":{"a": 1, "b": 2}}]', ("add",), 0),
 ("mistral", '[TOOL_CALLS] [{"name": "get_current_weather", "arguments":{"city": "Dallas", "state": "TX", "unit": "fahrenheit"}}]\nextra trailing data', ("get_current_weather",), 0),
 ("mistral", '[TOOL_CALLS]  junk [{"name": "add", "arguments":{"a": 1, "b": 2}}] trail', ("add",), 0),  # vLLM's regex fallback (bailbench read a cut call before)
 ("mistral", "[TOOL_CALLS] not json at all", (), 1),  # no call, counted cut off
 ("mistral", '[TOOL_CALLS]add_this_and_that{"a": 3.5, "b": 4}', ("add_this_and_that",), 0),
 ("mistral", '[TOOL_CALLS]get_current_weather{"city": "San Francisco", "state": "CA", "unit": "celsius"}', ("get_current_weather",), 0),
 ("mistral", '[TOOL_CALLS]add{"a": 3.5, "b": 4}[TOOL_CALLS]multiply{"a": 3, "b": 6}', ("add", "multiply"), 0),
 ("mistral", 'hi{hi[TOOL_CALLS]bash{"command": "print(\\"hello world!\\")\\nre.compile(r\'{}\')"', (), 1),  # vLLM streams the partial arguments; a call that does not parse is no call (DESIGN §1)
 ("mistral", 'hi{hi[TOOL_CALLS]bash{"command": "print(\\"hello world!\\")\\nre.compile(r\'{}\')"}', ("bash",), 0),
 ("mistral", "[TOOL_CALLS]toolname_no_args", (), 1),  # vLLM: tools_called with no call in it
 ("mistral", '[TOOL_CALLS]  [ {"name":"add" , "arguments" : {"a": 3, "b": 4} } ]', ("add",), 0),
 ("mistral", 'bla[TOOL_CALLS]add_this_and_that{"a": 3.5, "b": 4}', ("add_this_and_that",), 0),
 # vllm tests/tool_parsers/test_llama4_pythonic_tool_parser.py
 ("pythonic", "How can I help you today?", (), 0),
 ("pythonic", "[get_weather(city='LA', metric='C')]", ("get_weather",), 0),
 ("pythonic", "[register_user(name='Doe', age=9, address={'city': 'LA', 'state': 'CA'}, role=None, passed_test=True, aliases=['John', 'Johnny'])]", ("register_user",), 0),
 ("pythonic", "[get_weather()]", ("get_weather",), 0),
 ("pythonic", "[do_something_cool(additional_data={})]", ("do_something_cool",), 0),
 ("pythonic", "[do_something_cool(steps=[])]", ("do_something_cool",), 0),
 ("pythonic", r"[get_weather(city='Martha\'s Vineyard', metric='\"cool units\"')]", ("get_weather",), 0),
 ("pythonic", "[get_weather(city='LA',metric='C'),register_user(name='Doe',age=9)]", ("get_weather", "register_user"), 0),
 ("pythonic", "<|python_start|>[get_weather(city='LA', metric='C')]<|python_end|>", ("get_weather",), 0),
 ("pythonic", "<|python_start|>[get_weather(city='LA', metric='C'),register_user(name='Doe', age=9)]", ("get_weather", "register_user"), 0),
 ("pythonic", "<|python_start|>[get_weather(city='LA', metric='C'), get_weather(), do_something_cool(steps=[])]<|python_end|>", ("get_weather", "get_weather", "do_something_cool"), 0),
 ("pythonic", "<|python_start|>[foo(x=1])]<|python_end|>", (), 1),
 # vllm tests/tool_parsers/test_deepseekv3_tool_parser.py
 ("deepseek", "How can I help you today? I can check weather for you.", (), 0),
 ("deepseek", '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Tokyo", "unit": "celsius"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>', ("get_weather",), 0),
 ("deepseek", '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Tokyo", "unit": "celsius"}\n```<｜tool▁call▁end｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>search_hotels\n```json\n{"location": "Tokyo", "check_in": "2025-01-15"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>', ("get_weather", "search_hotels"), 0),
 ("deepseek", '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_current_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>', ("get_current_time",), 0),
 ("deepseek", 'Let me check the weather for you.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Paris"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>', ("get_weather",), 0),
 ("deepseek", '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>send_message\n```json\n{"text": "He said \\"hello\\"", "path": "C:\\\\Users\\\\file", "newline": "line1\\nline2"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>', ("send_message",), 0),
 ("deepseek", '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Tokyo"\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>', (), 1),
 ("deepseek", '<｜tool▁calls▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Tokyo"}\n```<｜tool▁calls▁end｜>', (), 1),  # vLLM xfails here (tools_called with no call); no call either way
 # vllm tests/tool_parsers/test_deepseekv31_tool_parser.py
 ("deepseek", 'normal text<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>foo<｜tool▁sep｜>{"x":1}<｜tool▁call▁end｜><｜tool▁calls▁end｜>', ("foo",), 0),
 ("deepseek", 'some prefix text<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>foo<｜tool▁sep｜>{"x":1}<｜tool▁call▁end｜><｜tool▁call▁begin｜>bar<｜tool▁sep｜>{"y":2}<｜tool▁call▁end｜><｜tool▁calls▁end｜> some suffix text', ("foo", "bar"), 0),
 ("deepseek", "Let me look that up.<｜tool▁calls▁begin｜>get_weather", (), 1),
 ("deepseek", '<｜tool▁calls▁begin｜>foo<｜tool▁sep｜>{"x":1}<｜tool▁calls▁end｜>', (), 1),
 # vllm tests/tool_parsers/test_granite_tool_parser.py
 ("granite", "This is a regular response without any tool calls.", (), 0),
 ("granite", '<|tool_call|> [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]', ("get_weather",), 0),
 ("granite", '<|tool_call|> [\n  {"name": "get_weather", "arguments": {"city": "Tokyo"}},\n  {"name": "get_time", "arguments": {"timezone": "Asia/Tokyo"}}\n]', ("get_weather", "get_time"), 0),
 ("granite", '<tool_call> [{\n  "name": "test_function",\n  "arguments": {\n    "string_field": "hello",\n    "empty_object": {}\n  }\n}]', ("test_function",), 0),  # Granite 3.1's string marker (bailbench read none before)
 ("granite", '<|tool_call|> [{"name": "refresh", "arguments": {}}]', ("refresh",), 0),
 ("granite", 'Let me check the weather for you.\n<|tool_call|> [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]\nI\'ll get that information.', ("get_weather",), 0),
 ("granite", '<|tool_call|> [{"name": "func", "arguments": {', (), 1),
 ("granite", '<|tool_call|> {"name": "func", "arguments": {}}', (), 1),  # not an array: vLLM reads no call (bailbench read a call before)
 ("granite", '[{"name": "func", "arguments": "not a dict"}]', (), 0),
 ("granite", 'Some text [{"name": "func"}]', (), 0),
 ("granite", '<tool_call> [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]', ("get_weather",), 0),  # (bailbench read none before)
 ("granite", '<|tool_call|> [{"arguments": {"city": "Tokyo"}, "name": "get_weather"}, {"arguments": {"timezone": "Asia/Tokyo"}, "name": "get_time"}]', ("get_weather", "get_time"), 0),
 ("granite", '<|tool_call|>[{"name": "get_weather", "arguments": {"x": 42}}, {"name": "b", "arguments": {"y": 7}}]', ("get_weather", "b"), 0),
 # llama.cpp tests/test-chat.cpp (Hermes 2 Pro)
 (H, f"<tool_call>\n{SF}\n</tool_call>", ("special_function",), 0),
 (H, f"Hello, world!\nWhat's up?<tool_call>\n{SF}\n</tool_call>", ("special_function",), 0),
 (H, "I'm\nthinking</think>\n<tool_call>" + SF + "</tool_call>", ("special_function",), 0),
 (H, '<function=special_function>{"arg1": 1}</function>', ("special_function",), 0),
 (H, '<function name="special_function">\n{"arg1": 1}\n</function>', ("special_function",), 0),
 (H, f"<tool>\n  {SF}\n</tool>", ("special_function",), 0),
 (H, f"<tools>\n  {SF}\n</tools>", ("special_function",), 0),
 (H, f"<response>\n  {SF}\n</response>", ("special_function",), 0),
 (H, f"```xml\n<response>\n    {SF}\n</response>\n```", ("special_function",), 0),
 (H, f"```xml\n  {SF}\n```", ("special_function",), 0),
 (H, f"```\n  {SF}\n```", ("special_function",), 0),
 (H, f"```\n{SF}\n```", ("special_function",), 0),
 (H, f"```json\n  {SF}\n```", ("special_function",), 0),
 (H, f"```json\n\n                    <function_call> {SF} \n                    </function_call> \n``` ", ("special_function",), 0),
 (H, f"<json>\n  {SF}\n</json>", ("special_function",), 0),
 (H, '<xml>\n  {\n    "name": "special_function", "arguments": {"arg1": 1}\n  }\n</xml>', ("special_function",), 0),
 (H, f"<JSON>\n  {SF}\n</JSON>", ("special_function",), 0),
 (H, SF, ("special_function",), 0),
 (H, '{\n  "name": "special_function", "arguments": {"arg1": 1}}', ("special_function",), 0),
 (H, f"<tool_call>\n{SF}\n</tool_call>\n<tool_call>\n" + '{"name": "python", "arguments": {"code":"print(\'hello\')"}}' + "\n</tool_call>", ("special_function", "python"), 0),
 (H, '<function=special_function>{"arg1": 1}</function>\n<function=python>{"code":"print(\'hello\')"}</function>', ("special_function", "python"), 0),
 (H, f"This is not a tool call:\n{SF}", (), 0),  # llama.cpp reads a call; vLLM hermes and ollama read none after prose: the majority
 (H, "Hello, world!\nWhat's up?", (), 0),
 (H, "<think>I'm\nthinking</think>Hello, world!\nWhat's up?", (), 0),
 (H, "<think>I'm\nthinking</think>Hello, world!\nWhat's up?\n```json\n{}```", (), 0),
 (H, "<think><tool_call>nah uhg</tool_call>", (), 0),
 (H, '```json\n<function_call> { "name" : "python"', (), 1),
 (H, "Let's call something\n<tool_call>{\"name\"", (), 1),
 # sglang test/srt/test_function_call_parser.py (BaseFormatDetector, <tool_call> holding two calls)
 (H, '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_tourist_attractions", "arguments": {"city": "London"}}</tool_call>', ("get_weather", "get_tourist_attractions"), 0),
 (H, '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_tourist_attractions", "arguments": {"city": "London"}} </tool_call>', ("get_weather", "get_tourist_attractions"), 0),
 # llama.cpp tests/test-chat.cpp (Llama 3.1 / 3.2)
 ("llama3", '{"name": "special_function", "parameters": {"arg1": 1}}', ("special_function",), 0),
 ("llama3", "<|python_tag|>code_interpreter.call(code=\"print('hey')\")", ("code_interpreter",), 0),
 ("llama3", "<|python_tag|>python.call(code=\"print('hey')\")", ("python",), 0),
 # sglang test/srt/test_function_call_parser.py (TestLlama32Detector)
 ("llama3", '{"name": "get_weather", "parameters": {"city": "Paris"}}', ("get_weather",), 0),
 ("llama3", '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}};{"name": "get_tourist_attractions", "parameters": {"city": "Paris"}}', ("get_weather", "get_tourist_attractions"), 0),
 ("llama3", '<|python_tag|>{"name": "get_weather", "parameters": {}}<|python_tag|>{"name": "get_tourist_attractions", "parameters": {}}', ("get_weather", "get_tourist_attractions"), 0),
 ("llama3", '{"name": "get_weather", "parameters": {}} Some follow-up text', ("get_weather",), 0),
 ("llama3", '{"name": "get_weather", "parameters": {{"name": "get_weather", "parameters": {}}', ("get_weather",), 1),  # SGLang (and vLLM) read the valid call after the broken one (bailbench read none before)
 ("llama3", "This is just plain explanation text.", (), 0),
 ("llama3", 'Some intro. <|python_tag|>{"name": "get_weather", "parameters": {}}', ("get_weather",), 0),
 # sglang test/srt/test_function_call_parser.py (TestMistralDetector)
 ("mistral", '[TOOL_CALLS] [{"name":"make_next_step_decision", "arguments":{"decision":"","content":"```\\nTOOL: Access a weather API\\nANSWER: [City Name] - [Weather Conditions] - [Temperature]\\n```"}}]', ("make_next_step_decision",), 0),
 ("mistral", '[TOOL_CALLS] [{"name":"make_next_step_decision", "arguments":{"decision":"TOOL", "content":"Use weather API"}}]', ("make_next_step_decision",), 0),
 ("mistral", "This is just normal text without any tool calls.", (), 0),
 ("mistral", 'Here is some text before the tool call: [TOOL_CALLS] [{"name":"make_next_step_decision", "arguments":{"decision":"ANSWER", "content":"The answer is 42"}}]', ("make_next_step_decision",), 0),
 # sglang test/srt/test_function_call_parser.py (TestPythonicDetector)
 ("pythonic", "This is just normal text without any tool calls.", (), 0),
 ("pythonic", "[search(query='python programming')]", ("search",), 0),
 ("pythonic", "[get_weather(location='New York', unit='celsius', data=[1, 2, 3])]", ("get_weather",), 0),
 ("pythonic", "[search(query='test', config={'options': [1, 2], 'nested': {'key': 'value'}})]", ("search",), 0),
 ("pythonic", "[get_weather(location='Paris', data=[10, 20]), search(query='test', filters=['a', 'b'])]", ("get_weather", "search"), 0),
 ("pythonic", "Here's a call: <|python_start|>[get_weather(location='Tokyo', data=[1, 2, 3])]<|python_end|>", ("get_weather",), 0),
 ("pythonic", "User wants to get the weather in Mars. <|python_start|>[get_weather(location='Mars', unit='celsius')]<|python_end|> In this way we will get the weather in Mars.", ("get_weather",), 0),
 ("pythonic", "[get_weather(location='Tokyo')] Here's the forecast:", ("get_weather",), 0),  # SGLang; vLLM's llama4_pythonic reads none when text follows (it parses the whole reply): the call opening the reply is kept
 ("pythonic", "[get_weather(location='Berlin')] and [search(query='restaurants')]", ("get_weather",), 0),  # SGLang reads both, vLLM none: the list opening the reply is read
 ("pythonic", "Here's a tool call: [get_weather(location='New York', unit='celsius')]", (), 0),  # SGLang reads it; vLLM (Llama 4's usual engine) needs the list to open the reply or follow <|python_start|>
 ("pythonic", "This is some text before [get_weather(location='London')]", (), 0),  # as above
 # vllm tests/tool_parsers/test_qwen3coder_tool_parser.py ; sglang test/srt/test_function_call_parser.py (TestQwen3CoderDetector)
 ("qwen3_coder", "This is a test response without any tool calls", (), 0),
 ("qwen3_coder", Q3, ("get_current_weather",), 0),
 ("qwen3_coder", "Sure! Let me check the weather for you." + Q3, ("get_current_weather",), 0),
 ("qwen3_coder", '<tool_call>\n<function=calculate_area>\n<parameter=shape>\nrectangle\n</parameter>\n<parameter=dimensions>\n{"width": 10, \n "height": 20}\n</parameter>\n<parameter=precision>\n2\n</parameter>\n</function>\n</tool_call>', ("calculate_area",), 0),
 ("qwen3_coder", Q3 + "\n" + Q3B, ("get_current_weather", "get_current_weather"), 0),
 ("qwen3_coder", "<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n</function>", ("get_current_weather",), 0),
 ("qwen3_coder", "<tool_call>\n<function=get_current_weather>\n</function>\n</tool_call>", ("get_current_weather",), 0),
 ("qwen3_coder", "<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas->TX\n</parameter>\n</function>\n</tool_call>", ("get_current_weather",), 0),
 ("qwen3_coder", "<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX", (), 1),
 ("qwen3_coder", "<tool_call>\n        <function=get_current_weather>\n        <parameter=city>\n        Dallas\n        </parameter>\n        </function>\n        </tool_call>\n        Some text in between.\n        <tool_call>\n        <function=calculate_area>\n        <parameter=shape>\n        circle\n        </parameter>\n        </function>\n        </tool_call>", ("get_current_weather", "calculate_area"), 0),
 # vllm tests/tool_parsers/test_glm4_moe_tool_parser.py ; sglang test/srt/test_function_call_parser.py
 # (TestGlm4MoeDetector) ; llama.cpp tests/test-chat.cpp (GLM-4.6)
 ("glm45", "This is a test", (), 0),
 ("glm45", G, ("get_current_weather",), 0),
 ("glm45", G + "\n    " + G, ("get_current_weather", "get_current_weather"), 0),
 ("glm45", "I'll help you check the weather. " + G, ("get_current_weather",), 0),
 ("glm45", "<think>I want to get the weather.</think>\n\nI will help you get the weather.\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n</tool_call>", ("get_weather",), 0),
 ("glm45", "<tool_call>get_current_time\n</tool_call>", ("get_current_time",), 0),
 ("glm45", "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n<arg_key>date</arg_key>\n<arg_value>2025-08-01</arg_value>", (), 1),
 ("glm45", "I will help you get the weather info.\n\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n</tool_call>\n\nmeaningwhile, I will also check the weather in Shanghai.\n\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Shanghai</arg_value>\n</tool_call>", ("get_weather", "get_weather"), 0),
 ("glm45", "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n<arg_key>date</arg_key>\n<arg_value>2024-06-27</arg_value>\n</tool_call><tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Shanghai</arg_value>\n</tool_call>", ("get_weather", "get_weather"), 0),
 ("glm45", '<tool_call>todo_write\n<arg_key>todos</arg_key>\n<arg_value>[{"id": "1", "task": "Check", "status": "in_progress"}]</arg_value>\n</tool_call>', ("todo_write",), 0),
 ("glm45", "\n<tool_call>special_function\n<arg_key>arg1</arg_key>\n<arg_value>1</arg_value>\n</tool_call>", ("special_function",), 0),
 ("glm45", "\n<think>I'm\nthinking</think>\n<tool_call>special_function\n<arg_key>arg1</arg_key>\n<arg_value>1</arg_value>\n</tool_call>", ("special_function",), 0),
 ("glm45", "\n<tool_call>special_function\n<arg_key>arg1</arg_key>\n<arg_value>1</arg_value>\n</tool_call>Hello, world!\nWhat's up?", ("special_function",), 0),
 ("glm45", "\n<think>I'm\nthinking</think>Hello, world!\n<think>Thinking2</think>What's up?\n<tool_call>special_function\n<arg_key>arg1</arg_key>\n<arg_value>1</arg_value>\n</tool_call>", ("special_function",), 0),
 # vllm tests/tool_parsers/test_kimi_k2_tool_parser.py ; sglang test/srt/test_function_call_parser.py
 # (TestKimiK2Detector) ; llama.cpp tests/test-chat.cpp (Kimi-K2-Thinking)
 ("kimi_k2", "This is a test", (), 0),
 ("kimi_k2", "I'll check. " + KW(K("functions.get_weather:0", '{"city": "Beijing"}')), ("get_weather",), 0),
 ("kimi_k2", "Compare weather. " + KW(K("functions.get_weather:0", '{"city": "Beijing"}'), K("functions.get_weather:1", '{"city": "Shanghai"}')), ("get_weather", "get_weather"), 0),
 ("kimi_k2", "Multiple tasks. " + KW(K("functions.get_weather:0", '{"city": "New York"}'), K("functions.get_news:1", '{"topic": "technology"}'), K("functions.send_email:2", '{"to": "user@example.com"}')), ("get_weather", "get_news", "send_email"), 0),
 ("kimi_k2", "Process HTML. " + KW(K("functions.process_html:0", '{"html": "<div>content</div>"}')), ("process_html",), 0),
 ("kimi_k2", "Formatted. " + KW(K("functions.process_data:0", '{\n  "name": "test",\n  "value": 123\n}')), ("process_data",), 0),
 ("kimi_k2", "No prefix. " + KW(K("get_weather:0", '{"city": "Tokyo"}')), ("get_weather",), 0),
 ("kimi_k2", "Empty args. " + KW(K("functions.test:0", "{}")), ("test",), 0),
 ("kimi_k2", "Help. " + KW(K("functions.bad:0", '{"city": "Beijing"'), K("functions.good:1", '{"city": "Shanghai"}')), ("good",), 1),  # vLLM also returns `bad` with its broken arguments; a call that does not parse is no call (DESIGN §1)
 ("kimi_k2", "Help. " + KW(K("functions.invalid.0", '{"city": "Beijing"}'), K("functions.valid:1", '{"city": "Shanghai"}')), ("valid",), 1),  # vLLM skips an id without `:N`
 ("kimi_k2", '<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|><|tool_call_begin|>functions.get_tourist_attractions:1<|tool_call_argument_begin|>{"city": "London"}<|tool_call_end|><|tool_calls_section_end|>', ("get_weather", "get_tourist_attractions"), 0),
 ("kimi_k2", 'invalid_tool:0<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|>', (), 0),
 ("kimi_k2", '<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Paris"', (), 1),
 ("kimi_k2", KS, ("special_function",), 0),
 ("kimi_k2", "<think>I'm\nthinking</think>" + KS + "Hello, world!\nWhat's up?", ("special_function",), 0),
 ("kimi_k2", "Let me start by examining the relevant files.<|tool_calls_section_begin|><|tool_call_begin|>functions.read_file:0<|tool_call_argument_begin|>{\"files\":[{\"path\":\"src/app/Partners.tsx\"}]}<|tool_call_end|><|tool_calls_section_end|>", ("read_file",), 0),
 # vllm tests/tool_parsers/test_apertus_tool_parser.py ; llama.cpp tests/test-chat.cpp (Apertus)
 ("apertus", "Hello, how can I help you today?", (), 0),
 ("apertus", '<|tools_prefix|>[{"get_weather": {"location": "London"}}]<|tools_suffix|>', ("get_weather",), 0),
 ("apertus", 'Let me check the weather for you. <|tools_prefix|>[{"get_weather": {"location": "Paris"}}]<|tools_suffix|>', ("get_weather",), 0),
 ("apertus", '<|tools_prefix|>[{"get_weather": {"location": "London"}}, {"get_time": {"location": "London"}}]<|tools_suffix|>', ("get_weather", "get_time"), 0),
 ("apertus", '<|tools_prefix|>[{"complex_function": {"nested": {"inner": "value"}, "list": ["a", "b"]}}]<|tools_suffix|>', ("complex_function",), 0),
 ("apertus", '<|tools_prefix|>[{"get_weather": {"location": "London"}', (), 1),  # vLLM completes the partial JSON; DESIGN §1: a cut call is no call
 ("apertus", '<|tools_prefix|>[{"get_weather": {"location": "San Francisco", "unit": "celsius"}}]', ("get_weather",), 0),  # vLLM reads a complete list without <|tools_suffix|> (as for Hermes above)
 ("apertus", '<|tools_prefix|>[{"t1": {"a": 1}}, {"t2": {"b": 2}}, {"t3": {"c": 3}}]<|tools_suffix|>', ("t1", "t2", "t3"), 0),
 ("apertus", "<|inner_prefix|>I'm\nthinking<|inner_suffix|><|tools_prefix|>[{\"special_function\": {\"arg1\": 1}}]<|tools_suffix|>Hello, world!\nWhat's up?", ("special_function",), 0),
 # llama.cpp tests/test-chat.cpp (Seed-OSS)
 ("seed_oss", "<seed:tool_call>\n<function=special_function>\n<parameter=arg1>\n42\n</parameter>\n</function>\n</seed:tool_call>", ("special_function",), 0),
 ("seed_oss", "<seed:tool_call>\n<function=process_data>\n<parameter=input>\ntest\n</parameter>\n<parameter=format>\njson\n</parameter>\n</function>\n</seed:tool_call>", ("process_data",), 0),
 ("seed_oss", "<seed:think>I need to call the special function</seed:think><seed:tool_call>\n<function=special_function>\n<parameter=arg1>\n42\n</parameter>\n</function>\n</seed:tool_call>", ("special_function",), 0),
 ("seed_oss", "<seed:tool_call>\n<function=process_data>\n<parameter=input>\ntest", (), 1),
 ("seed_oss", "This is a simple response without reasoning.", (), 0),
 ("seed_oss", "<seed:think>I'm thinking about the answer</seed:think>Hello, world!", (), 0),
 # llama.cpp tests/test-chat.cpp (Nemotron Nano v2)
 ("nemotron_v2", f"<TOOLCALL>[{SF}]</TOOLCALL>", ("special_function",), 0),
 ("nemotron_v2", f"<think>I'm\nthinking</think><TOOLCALL>[{SF}]</TOOLCALL>", ("special_function",), 0),
 ("nemotron_v2", f"<TOOLCALL>[{SF}]</TOOLCALL>Hello, world!\nWhat's up?", ("special_function",), 0),
 ("nemotron_v2", "Hello, world!\nWhat's up?", (), 0),
 # llama.cpp tests/test-chat.cpp (MiniMax-M2)
 ("minimax_m2", MM, ("special_function",), 0),
 ("minimax_m2", "I'm\nthinking</think>" + MM, ("special_function",), 0),
 ("minimax_m2", MM + "Hello, world!\nWhat's up?", ("special_function",), 0),
 ("minimax_m2", '<minimax:tool_call><invoke name="special_function"><parameter name="arg1">1</parameter></invoke></minimax:tool_call>', ("special_function",), 0),
 ("minimax_m2", '<minimax:tool_call>\n<invoke name="special_function_with_opt">\n<parameter name="arg1">1</parameter>\n<parameter name="arg2">2</parameter>\n</invoke>\n</minimax:tool_call>', ("special_function_with_opt",), 0),
 # llama.cpp tests/test-chat.cpp (LFM2 with JSON tools)
 ("lfm2", f"<|tool_call_start|>[{SF}]<|tool_call_end|>", ("special_function",), 0),
 ("lfm2", '<|tool_call_start|>[{"name": "get_weather", "arguments": {"location": "Paris"}}, {"name": "get_time", "arguments": {"timezone": "UTC"}}]<|tool_call_end|>', ("get_weather", "get_time"), 0),
 ("lfm2", 'Let me check the weather for you.<|tool_call_start|>[{"name": "get_weather", "arguments": {"location": "Paris"}}]<|tool_call_end|>', ("get_weather",), 0),
 ("lfm2", '<|tool_call_start|>[{"name": "get_weather", "arguments": {"location": "Paris"}}]<|tool_call_end|>Here\'s the result.', ("get_weather",), 0),
 ("lfm2", '<|tool_call_start|>[{\n    "name": "get_current_time",\n    "arguments": {\n        "location": "Paris"\n    }\n}]<|tool_call_end|>', ("get_current_time",), 0),
 # llama.cpp tests/test-chat.cpp (DeepSeek R1, V3.1)
 ("deepseek", "<think>I'm\nthinking</think>\n\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>special_function\n```json\n{\"arg1\": 1}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>", ("special_function",), 0),
 ("deepseek", "<｜tool▁calls｜>function<｜tool▁sep｜>special_function\n```json\n{\"arg1\": 1}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>", ("special_function",), 0),
 ("deepseek", "I need to remember the correct syntax. It starts with <｜tool▁calls▁begin｜> and ends with", (), 1),  # partial in llama.cpp's test; an opened block with no call, counted cut off
 ("deepseek", '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"city": "Tokyo"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>', ("get_time",), 0),
 ("deepseek", 'REASONING</think><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"city": "Tokyo"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>', ("get_time",), 0),
 ("deepseek", 'CONTENT<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>', ("get_time", "get_weather"), 0),
 ("deepseek", 'REASONING<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time2<｜tool▁sep｜>{"city": "Tokyo2"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>REASONING</think><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"city": "Tokyo"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>', ("get_time",), 0),
 ("deepseek", 'REASONING<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"city": "Tokyo"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>', ("get_time",), 0),
 ("deepseek", "CONTENT", (), 0),
 # llama.cpp tests/test-chat.cpp (Granite 3.3)
 ("granite", f"<|tool_call|>[{SF}]", ("special_function",), 0),
 ("granite", '<|tool_call|>[{"name": "special_function", "arguments": {"arg', (), 1),
 ("granite", "<think>I'm\nthinking</think><response>Hello, world!\nWhat's up?</response>", (), 0),
 # llama.cpp tests/test-chat.cpp (Functionary v3.1, v3.2, FireFunction v2)
 ("functionary_v31", '<function=special_function>{"arg1": 1}</function>', ("special_function",), 0),
 ("functionary_v32", "all\nHello, world!\nnono\nWhat's up?>>>special_function\n{\"arg1\": 1}\n", ("special_function",), 0),
 ("functionary_v32", "python\n# This is a program:\nprint('hey')", ("python",), 0),  # (bailbench read none before)
 ("functionary_v32", "special_function\n{\"arg1\": 1} \n                    ", ("special_function",), 0),
 ("functionary_v32", "all\nHello, world!\nWhat's up?", (), 0),
 ("firefunction", ' functools[{"name": "special_function", "arguments": {"arg1": 1}}]', ("special_function",), 0),
 # llama.cpp tests/test-chat.cpp (GPT-OSS)
 ("harmony", GPT + "<|start|>assistant<|channel|>final<|message|>Hello, world!\nWhat's up?", (), 0),
 ("harmony", GPT + '<|start|>assistant<|channel|>commentary to=functions.special_function <|constrain|>json<|message|>{"arg1": 1}', ("special_function",), 0),  # llama.cpp (is_partial=false) reads it: <|call|> is a stop token, often dropped (bailbench read a cut call before)
 ("harmony", GPT + '<|start|>assistant<|channel|>analysis to=functions.special_function <|constrain|>json<|message|>{"arg1": 1}', ("special_function",), 0),
 ("harmony", GPT + '<|start|>assistant<|channel|>commentary to=functions.special_function<|message|>{"arg1', (), 1),
 ("harmony", GPT + "<|start|>assistant<|channel|>commentary<|message|>Hello, world!\nWhat's up?<|end|><|start|>assistant<|channel|>commentary to=functions.special_function <|constrain|>json<|message|>{\"arg1\": 1}", ("special_function",), 0),
 ("harmony", ' to=functions.special_function<|channel|>commentary <|constrain|>json<|message|>{"arg1": 1}', ("special_function",), 0),
 ("harmony", ' to=functions.special_function<|channel|>analysis <|constrain|>json<|message|>{"arg1": 1}', ("special_function",), 0),
 ("harmony", GPT + '<|start|>assistant to=functions.special_function<|channel|>analysis <|constrain|>json<|message|>{"arg1": 1}', ("special_function",), 0),
 ("harmony", GPT + '<|start|>assistant<|channel|>commentary to=functions.special_function <|constrain|>json<|message|>{"arg1": 1}<|call|>', ("special_function",), 0),
 # vllm tests/tool_parsers/test_lfm2_tool_parser.py
 ("lfm2", "How can I help you today?", (), 0),
 ("lfm2", W("get_candidate_status(candidate_id='12345')"), ("get_candidate_status",), 0),
 ("lfm2", W("register_user(name='John Doe', age=37, address={'city': 'San Francisco', 'state': 'CA'}, role=None, passed_test=True, aliases=['John', 'Johnny'])"), ("register_user",), 0),
 ("lfm2", W("get_weather()"), ("get_weather",), 0),
 ("lfm2", W("do_something_cool(additional_data={})"), ("do_something_cool",), 0),
 ("lfm2", W("label(tags={'urgent', 'bug'})"), ("label",), 0),
 ("lfm2", W("set_date(month=07, day=05)"), ("set_date",), 0),  # not Python: vLLM recovers the call (bailbench read a cut call before)
 ("lfm2", W("bash(command='sed -n '360,450p' /testbed/sympy/matrices/common.py')"), ("bash",), 0),  # an unescaped quote: vLLM recovers the call
 ("lfm2", W("bash(command='cd /testbed && python3 -c \"from sympy import latex\nprint(latex(3*x, mul_symbol='\\,'))\"')"), ("bash",), 0),  # a raw newline and nested quotes: vLLM recovers the call
 ("lfm2", W(r"get_weather(city='Martha\'s Vineyard', metric='\"cool units\"')"), ("get_weather",), 0),
 ("lfm2", W("grocery.orderIngredients(ingredientList=[{'name': 'Lasagna noodles', 'amount': 250, 'unit': 'g'}], deliveryAddress='845 Willow Lane, Springfield, IL 62704')"), ("grocery.orderIngredients",), 0),
 ("lfm2", W("exec(command='grep -F \"]\" log.txt')"), ("exec",), 0),
 ("lfm2", W("exec(command='cat > f.py << EOF\nimport csv\nprint(1)\nEOF')"), ("exec",), 0),  # a raw newline in a string: vLLM recovers the call
 ("lfm2", W("exec(command='printf a\x00b')"), ("exec",), 0),  # a NUL byte (bailbench raised ValueError before)
 ("lfm2", W("get_candidate_status(candidate_id='12345'), register_user(name='John Doe', age=37)"), ("get_candidate_status", "register_user"), 0),
 ("lfm2", W("get_candidate_status(candidate_id='12345')") + "\nChecking the current status of candidate ID 12345.", ("get_candidate_status",), 0),
 ("lfm2", "<|tool_call_start|>[]<|tool_call_end|>", (), 0),  # an empty list is no call (bailbench counted a cut call before)
 ("lfm2", "<|tool_call_start|>[ ]<|tool_call_end|>", (), 0),
 ("lfm2", W("get_candidate_status(candidate_id='12345'), bad(x=b'z')"), ("get_candidate_status", "bad"), 0),  # vLLM drops the sibling whose bytes argument is not JSON; its name is read here (not the bail tool)
 ("lfm2", "<|tool_call_start|> [get_candidate_status(candidate_id='12345')]<|tool_call_end|>", ("get_candidate_status",), 0),
 ("lfm2", "<|tool_call_start|>[get_candidate_status(candidate_id='12345'), get_weather(), do_something_cool(steps=[])]<|tool_call_end|>", ("get_candidate_status", "get_weather", "do_something_cool"), 0),
 ("lfm2", "<|tool_call_start|>[get_candidate_status(candidate_id='123", (), 1),
 # vllm tests/tool_parsers/test_deepseekv32_tool_parser.py
 ("dsml", "just some text", (), 0),
 ("dsml", f'{FC}\n<｜DSML｜invoke name="get_time">\n</｜DSML｜invoke>\n{FE}', ("get_time",), 0),
 ("dsml", f'{FC}\n<｜DSML｜invoke name="get_weather">\n<｜DSML｜parameter name="location" string="true">SF</｜DSML｜parameter><｜DSML｜parameter name="date" string="true">2024-01-16</｜DSML｜parameter>\n</｜DSML｜invoke>\n{FE}', ("get_weather",), 0),
 ("dsml", f'Sure, let me check! {FC}\n<｜DSML｜invoke name="get_weather">\n<｜DSML｜parameter name="location" string="true">NYC</｜DSML｜parameter>\n</｜DSML｜invoke>\n{FE}', ("get_weather",), 0),
 ("dsml", f'{FC}\n<｜DSML｜invoke name="get_weather">\n<｜DSML｜parameter name="location" string="true">SF</｜DSML｜parameter>\n</｜DSML｜invoke>\n<｜DSML｜invoke name="get_weather">\n<｜DSML｜parameter name="location" string="true">NYC</｜DSML｜parameter>\n</｜DSML｜invoke>\n{FE}', ("get_weather", "get_weather"), 0),
 ("dsml", f'{FC}\n<｜DSML｜invoke name="toggle">\n<｜DSML｜parameter name="enabled" string="false">true</｜DSML｜parameter>\n</｜DSML｜invoke>\n{FE}', ("toggle",), 0),
 ("dsml", f'{FC}\n<｜DSML｜invoke name="get_weather">\n<｜DSML｜parameter name="location" string="true">S', (), 1),
 # vllm tests/tool_parsers/test_gemma4_tool_parser.py
 ("gemma4", "Hello, how can I help you today?", (), 0),
 ("gemma4", '<|tool_call>call:get_weather{location:<|"|>London<|"|>}<tool_call|>', ("get_weather",), 0),
 ("gemma4", '<|tool_call>call:get_weather{location:<|"|>San Francisco<|"|>,unit:<|"|>celsius<|"|>}<tool_call|>', ("get_weather",), 0),
 ("gemma4", 'Let me check the weather for you. <|tool_call>call:get_weather{location:<|"|>Paris<|"|>}<tool_call|>', ("get_weather",), 0),
 ("gemma4", '<|tool_call>call:get_weather{location:<|"|>London<|"|>}<tool_call|><|tool_call>call:get_time{location:<|"|>London<|"|>}<tool_call|>', ("get_weather", "get_time"), 0),
 ("gemma4", '<|tool_call>call:complex_function{nested:{inner:<|"|>value<|"|>},list:[<|"|>a<|"|>,<|"|>b<|"|>]}<tool_call|>', ("complex_function",), 0),
 ("gemma4", "<|tool_call>call:set_status{is_active:true,count:42,score:3.14}<tool_call|>", ("set_status",), 0),
 ("gemma4", '<|tool_call>call:get_weather{location:<|"|>London', (), 1),
 ("gemma4", '<|tool_call>call:get-weather{location:<|"|>London<|"|>}<tool_call|>', ("get-weather",), 0),
 ("gemma4", '<|tool_call>call:weather.get{location:<|"|>London<|"|>}<tool_call|>', ("weather.get",), 0),
 ("gemma4", "<|tool_call>call:get_status{}<tool_call|>", ("get_status",), 0),
 # ollama tools/tools_test.go (TestParseToolCalls)
 ("mistral", f"[TOOL_CALLS]  [{T1},{T2}]", ("get_current_weather", "get_current_weather"), 0),
 ("mistral", f'[TOOL_CALLS]  [{T1},{{"name": "get_curren}}]', (), 1),  # ollama keeps the first call of a broken list; vLLM reads none, and DESIGN §1: no call
 ("mistral", '[TOOL_CALLS]  [{"name": "get_current_weather", "arguments": {"format":"fahrenheit","location":"San Francisco, ', (), 1),
 ("mistral", f"[{T1},{T2}]", (), 0),  # ollama reads it for mistral; vLLM and llama.cpp need [TOOL_CALLS]: the majority
 ("mistral", f"[TOOL_CALLS]  [{T1},{T2}]\nmodel outputs more tokens here and then [{T1},{T2}]", ("get_current_weather", "get_current_weather"), 0),
 ("command_r_plus", 'Action: ```json\n[\n    {\n        "tool_name": "get_current_weather",\n        "parameters": {"format": "fahrenheit"}\n    },\n    {\n        "tool_name": "get_current_weather",\n        "parameters": {"format": "celsius"}\n    }\n]\n```', ("get_current_weather", "get_current_weather"), 0),
 ("firefunction", f" functools[{T1},{T2}]", ("get_current_weather", "get_current_weather"), 0),
 ("hermes", f"<tool_call>\n{T1}\n</tool_call>", ("get_current_weather",), 0),
 ("hermes", f"<tool_call>{T1}</tool_call>", ("get_current_weather",), 0),
 ("hermes", f"{T1} <tool_call>{T1}</tool_call> <tool_call>{T2}</tool_call>", ("get_current_weather", "get_current_weather", "get_current_weather"), 0),  # ollama's order; bailbench lists <tool_call> blocks first (names only count)
 ("hermes", "The weather in San Francisco, CA is 70°F and in Toronto, Canada is 20°C.", (), 0),
 ("hermes", f"some tokens before call [{T1}, {T2}]", (), 0),
 ("hermes", f"<tool_call> [{T1}, {T2}] </tool_call> some tokens after call", ("get_current_weather", "get_current_weather"), 0),
 ("hermes", f"some tokens before call <tool_call> [{T1}, {T2}] </tool_call>", ("get_current_weather", "get_current_weather"), 0),
 ("hermes", f"{T1} <tool_call>{T2}</tool_call>", ("get_current_weather", "get_current_weather"), 0),
 # ollama tools/tools_test.go (TestParseJSONToolCalls), read as Hermes JSON opening the reply
 ("hermes", '{"name": "test_tool", "arguments": {"arg1": "value1"}}', ("test_tool",), 0),
 ("hermes", '{"name": "test_tool", "arguments": {"arg1": ', (), 1),
 ("hermes", "not json at all", (), 0),
 ("hermes", '{"other": "field"}', (), 0),
 ("hermes", '\n\t\t\t\t{"name": "tool1", "arguments": {"arg1": 1}},\n\t\t\t\t{"name": "tool2", "arguments": {"arg2": "value"}}\n\t\t\t', ("tool1", "tool2"), 0),
 ("hermes", '{"name": "tool1", "arguments": {"arg1": [1, 2, ["nested", "array"]]}}', ("tool1",), 0),
 # vllm tests/tool_parsers/test_openai_tool_parser.py (the messages as openai-harmony renders them)
 ("harmony", "<|channel|>final<|message|>This is a test<|return|>", (), 0),
 ("harmony", GPT + '<|start|>assistant to=functions.get_current_weather<|channel|>commentary <|constrain|>json<|message|>{"location": "Tokyo"}<|call|>', ("get_current_weather",), 0),
 ("harmony", GPT + '<|start|>assistant to=functions.get_current_weather<|channel|>commentary <|constrain|>json<|message|>{\n"location": "Tokyo"\n}<|call|>', ("get_current_weather",), 0),
 ("harmony", GPT + '<|start|>assistant to=functions.get_current_weather<|channel|>commentary <|constrain|>json<|message|>{"location": "Tokyo"}<|call|>'
  '<|start|>assistant to=functions.get_user_location<|channel|>commentary <|constrain|>json<|message|>{"location": "Tokyo"}<|call|>'
  '<|start|>assistant to=functions.no_content_type<|channel|>commentary<|message|>{"location": "Tokyo"}<|call|>'
  '<|start|>assistant to=functions.not_json_no_content_type<|channel|>commentary<|message|>foo<|call|>'
  '<|start|>assistant to=functions.empty_args<|channel|>commentary <|constrain|>json<|message|>{}<|call|>'
  '<|start|>assistant to=functions.no_args<|channel|>commentary <|constrain|>json<|message|><|call|>',
  ("get_current_weather", "get_user_location", "no_content_type", "empty_args", "no_args"), 1),  # vLLM also returns `not_json_no_content_type` with arguments "foo": not JSON, no call here (DESIGN §1); an empty message ended by <|call|> is a call without arguments (bailbench counted it cut off before)
 ("harmony", GPT + '<|start|>assistant to=functions.get_current_weather<|channel|>commentary <|constrain|>json<|message|>{"location": "Tokyo"}<|call|>'
  '<|start|>assistant<|channel|>final<|message|>This tool call will get the weather.<|return|>', ("get_current_weather",), 0),
 # vllm tests/tool_parsers/test_seed_oss_tool_parser.py
 ("seed_oss", "This is a test response without any tool calls", (), 0),
 ("seed_oss", "<seed:tool_call>\n<function=get_weather>\n<parameter=location>Barcelona, Spain</parameter>\n</function>\n</seed:tool_call>", ("get_weather",), 0),
 ("seed_oss", "<seed:think>The user's current thinking budget is 512.</seed:cot_budget_reflect>\nLet me analyze.\n<seed:cot_budget_reflect>I have used 131 tokens.</seed:cot_budget_reflect>\n The unit parameter can be omitted.</seed:think>\n<seed:tool_call>\n<function=get_weather>\n<parameter=location>Barcelona, Spain</parameter>\n</function>\n</seed:tool_call>", ("get_weather",), 0),
 ("seed_oss", "<seed:think>\nGot it. The format is <seed:tool_call>\n<function=get_weather>\n<parameter=location>Barcelona, Spain</parameter>\n<parameter=unit>celsius</parameter>\n</function>\n</seed:tool_call>. Let me go with that.</seed:think><seed:tool_call>\n<function=get_weather>\n<parameter=location>Barcelona, Spain</parameter>\n<parameter=unit>celsius</parameter>\n</function>\n</seed:tool_call>", ("get_weather",), 0),  # shortened from vLLM's "unlimited thinking budget" case: the call written inside the reasoning is not read
 # vllm tests/tool_parsers/test_minimax_m2_tool_parser.py
 ("minimax_m2", "Hello world", (), 0),
 ("minimax_m2", 'Let me check. <minimax:tool_call><invoke name="get_weather"><parameter name="city">Seattle</parameter></invoke></minimax:tool_call>', ("get_weather",), 0),
 ("minimax_m2", '<minimax:tool_call><invoke name="get_weather"><parameter name="city">Seattle</parameter><parameter name="days">5</parameter></invoke></minimax:tool_call>', ("get_weather",), 0),
 ("minimax_m2", '<minimax:tool_call><invoke name="search_web"><parameter name="query">OpenAI</parameter></invoke><invoke name="search_web"><parameter name="query">Gemini</parameter></invoke></minimax:tool_call>', ("search_web", "search_web"), 0),
 ("minimax_m2", '<minimax:tool_call><invoke name="fn_a"><parameter name="x">1</parameter></invoke><invoke name="fn_b"><parameter name="y">2</parameter></invoke></minimax:tool_call>', ("fn_a", "fn_b"), 0),
 ("minimax_m2", '<minimax:tool_call><invoke name="get_weather"><parameter name="city">NYC</parameter></invoke><invoke name="get_stock"><parameter name="ticker">AAPL</parameter></invoke></minimax:tool_call>', ("get_weather", "get_stock"), 0),
 ("minimax_m2", '<minimax:tool_call><invoke name="fn"><parameter name="k">v</parameter></invoke>', ("fn",), 0),  # the closing </minimax:tool_call> arrives as a special token vLLM's test leaves out of the text
 ("minimax_m2", '<minimax:tool_call><invoke name="get_weather"><parameter name="city">Sea', (), 1),
 # vllm tests/tool_parsers/test_cohere_command_tool_parser.py (Command R7B / A: cmd3, cmd4)
 ("command_r7b", '<|START_THINKING|> i will call foo with query1<|END_THINKING|><|START_ACTION|>\n[\n    {"tool_call_id": "0", "tool_name": "foo", "parameters": {"query": "query1"}}\n]\n<|END_ACTION|>', ("foo",), 0),
 ("command_r7b", "<|START_THINKING|>This is a rainbow <co>emoji: 🌈</co: 0:[1]><|END_THINKING|>\n<|START_RESPONSE|>foo <co>bar</co: 0:[1,2],1:[3,4]><|END_RESPONSE|>", (), 0),
 ("command_r7b", '<|START_THINKING|>first I think about foo<|END_THINKING|><|START_ACTION|>\n[\n    {"tool_call_id": "0", "tool_name": "foo", "parameters": {"query": "query1"}},\n    {"tool_call_id": "1", "tool_name": "bar", "parameters": {"x": 42}}\n]\n<|END_ACTION|>', ("foo", "bar"), 0),
 ("command_r7b", "<|START_THINKING|>just think, no response<|END_THINKING|>", (), 0),
 ("command_r7b", '<|START_THINKING|>I could write <|START_ACTION|>[{"tool_name": "foo", "parameters": {}}]<|END_ACTION|><|END_THINKING|><|START_RESPONSE|>No.<|END_RESPONSE|>', (), 0),  # derived from the cases above (not in vLLM): a call inside the reasoning is no call
 # llama.cpp tests/test-chat.cpp (peg_tester: Ministral-3 / Magistral reasoning)
 ("mistral", '[TOOL_CALLS]special_function[ARGS]{"arg1":1}', ("special_function",), 0),
 ("mistral", "[THINK]I'm\nthinking[/THINK]" + '[TOOL_CALLS]special_function[ARGS]{"arg1":1}', ("special_function",), 0),
 ("mistral", '[TOOL_CALLS]special_function[ARGS]{"arg1": 1}[TOOL_CALLS]special_function_with_opt[ARGS]{"arg1": 1, "arg2": 2}', ("special_function", "special_function_with_opt"), 0),
 ("mistral", "[THINK]I'm\nthinking[/THINK]Hello, world!\nWhat's up?", (), 0),
 ("mistral", '[THINK]I need to output the invoice details in JSON[/THINK]```json\n{"amount": 123.45, "date": "2025-12-03"}\n```', (), 0),
 ("mistral", '[THINK]Let me think about [TOOL_CALLS]special_function[ARGS]{"arg1":1} and more[/THINK][TOOL_CALLS]special_function[ARGS]{"arg1": 1}', ("special_function",), 0),  # a call marker inside the reasoning is not read
 # llama.cpp tests/test-chat.cpp (peg_tester: NVIDIA Nemotron-3 Nano, Qwen3-Coder syntax, thinking forced open)
 ("qwen3_coder", "<tool_call>\n<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n</function>\n</tool_call>\n", ("special_function",), 0),
 ("qwen3_coder", "I'm\nthinking\n</think>\n<tool_call>\n<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n</function>\n</tool_call>\n", ("special_function",), 0),
 ("qwen3_coder", "<tool_call>\n<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=special_function_with_opt>\n<parameter=arg1>\n1\n</parameter>\n<parameter=arg2>\n2\n</parameter>\n</function>\n</tool_call>\n", ("special_function", "special_function_with_opt"), 0),
 ("qwen3_coder", '<tool_call>\n<function=python>\n<parameter=code>\ndef hello():\n    print("Hello, world!")\n\nhello()\n</parameter>\n</function>\n</tool_call>\n', ("python",), 0),
 ("qwen3_coder", 'I need to output the invoice details in JSON\n</think>\n{"amount": 123.45, "date": "2025-12-03"}', (), 0),
 ("qwen3_coder", 'Let\'s call a tool: <tool_call>\n<function=python>\n<parameter=code>\ndef hello():\n    print("Not the real call!")\n\nhello()\n</parameter>\n</function>\n</tool_call>\n</think>\n<tool_call>\n<function=python>\n<parameter=code>\ndef hello():\n    print("Hello, world!")\n\nhello()\n</parameter>\n</function>\n</tool_call>\n', ("python",), 0),  # the call in the reasoning is not read
 # llama.cpp tests/test-chat.cpp (peg_tester: Qwen3-Coder)
 ("qwen3_coder", "Hello, world!\nWhat's up?", (), 0),
 ("qwen3_coder", "<tool_call>\n<function=python>\n<parameter=code>\n格\n</parameter>\n</function>\n</tool_call>", ("python",), 0),
 ("qwen3_coder", "<tool_call>\n<function=html>\n<parameter=markup>\n<html>\n <head>\n  <title>Hello!</title>\n </head>\n</html>\n</parameter>\n</function>\n</tool_call>", ("html",), 0),
 ("qwen3_coder", '<tool_call>\n<function=todo_list>\n<parameter=todos>\n[{"item": "Check stuff", "selected": false}, {"item": "Prepare stuff", "selected": true}]\n</parameter>\n</function>\n</tool_call>', ("todo_list",), 0),
 ("qwen3_coder", "<tool_call>\n<function=tool_2req_4opt>\n<parameter=req1>\nhello\n</parameter>\n<parameter=req2>\n42\n</parameter>\n<parameter=opt4>\n100\n</parameter>\n<parameter=opt2>\n200\n</parameter>\n</function>\n</tool_call>", ("tool_2req_4opt",), 0),
 # llama.cpp tests/test-chat.cpp (peg_tester: Command R7B)
 ("command_r7b", "<|START_RESPONSE|>Hello, world!\nWhat's up?<|END_RESPONSE|>", (), 0),
 ("command_r7b", "<|START_THINKING|>I'm\nthinking<|END_THINKING|><|START_RESPONSE|>Hello, world!\nWhat's up?<|END_RESPONSE|>", (), 0),
 ("command_r7b", '<|START_THINKING|>I\'m\nthinking<|END_THINKING|><|START_ACTION|>[\n    {"tool_call_id": "0", "tool_name": "special_function", "parameters": {"arg1": 1}}\n]<|END_ACTION|>', ("special_function",), 0),
 ("command_r7b", '<|START_THINKING|>I\'m\nthinking<|END_THINKING|><|START_ACTION|>[\n    {"tool_call_id": "0", "tool_name": "special_function", ', (), 1),
 ("command_r7b", '<|START_THINKING|><|END_THINKING|><|START_ACTION|>[\n    {"tool_call_id": "0", "tool_name": "special_function", "parameters": {"arg1": 1}}\n]<|END_ACTION|>', ("special_function",), 0),
 # llama.cpp tests/test-chat.cpp (peg_tester: Gemma 4)
 ("gemma4", "<|channel>thought\nI'm\nthinking<channel|>Hello, world!\nWhat's up?", (), 0),
 ("gemma4", '<|tool_call>call:get_time{city:<|"|>London<|"|>}<tool_call|>', ("get_time",), 0),
 ("gemma4", "<|tool_call>call:empty_args{}<tool_call|>", ("empty_args",), 0),
 ("gemma4", 'Hello, world!\nWhat\'s up?<|tool_call>call:get_time{city:<|"|>Paris<|"|>}<tool_call|>', ("get_time",), 0),
 ("gemma4", '<|tool_call>call:get_time{city:<|"|>London<|"|>}<tool_call|><|tool_call>call:get_weather{city:<|"|>Paris<|"|>}<tool_call|>', ("get_time", "get_weather"), 0),
 ("gemma4", "<|tool_call>call:special_function{arg1:-7}<tool_call|>", ("special_function",), 0),
 ("gemma4", '<|tool_call>call:todo_list{todos:[<|"|>buy milk<|"|>,<|"|>walk dog<|"|>]}<tool_call|>', ("todo_list",), 0),
 ("gemma4", '<|tool_call>call:set_config{config:{theme:<|"|>dark<|"|>,count:3}}<tool_call|>', ("set_config",), 0),
 ("gemma4", "<|channel>thought\n<channel|>Hello, world!\nWhat's up?<|channel>thought\n<channel|><channel|>", (), 0),
 # llama.cpp tests/test-chat.cpp (peg_tester: QwQ-32B, Hermes 2 Pro, Granite 4.0, Seed-OSS)
 (H, "Let me think about this...\n</think>\nThe answer is 42.", (), 0),
 (H, '<tool_call>\n{"name": "special_function", "arguments": {"arg1": 1}}</tool_call>', ("special_function",), 0),
 ("seed_oss", "<seed:tool_call>\n<function=special_function>\n<parameter=arg1>1</parameter>\n</function>\n</seed:tool_call>\n<seed:tool_call>\n<function=special_function_with_opt>\n<parameter=arg1>1</parameter>\n<parameter=arg2>2</parameter>\n</function>\n</seed:tool_call>", ("special_function", "special_function_with_opt"), 0),
 ("seed_oss", '<seed:tool_call>\n<function=edit>\n<parameter=filename>\nfoo.cpp\n</parameter>\n<parameter=oldString>def foo(arg = "14"):\n    return arg + "bar"\n\n</parameter>\n<parameter=newString>def foo(arg = "15"):\n    pass\n\n</parameter>\n</function>\n</seed:tool_call>', ("edit",), 0),
 # vllm tests/tool_parsers/test_gigachat3_tool_parser.py (GigaChat 3: `function call<|role_sep|>`, 3.1: `<|function_call|>`)
 ("gigachat", "How can I help you today?", (), 0),
 ("gigachat", "<|message_sep|>\n\nfunction call<|role_sep|>\n{\"name\": \"manage_user_memory\", \"arguments\": {\"action\": \"create\", \"id\": \"preferences\"}}", ("manage_user_memory",), 0),
 ("gigachat", "<|message_sep|>\n\nfunction call<|role_sep|>\n{\"name\": \"manage_user_memory\", \"arguments\": {}}", ("manage_user_memory",), 0),
 ("gigachat", "<|message_sep|>\n\nfunction call<|role_sep|>\n{\"name\": \"manage_user_memory\", \"arguments\": {\"action\": \"create\", \"id\": \"preferences\", \"content\": {\"short_answers\": true, \"english_ui\": false}}}", ("manage_user_memory",), 0),
 ("gigachat", "I'll check that for you.<|message_sep|>\n\nfunction call<|role_sep|>\n{\"name\": \"manage_user_memory\", \"arguments\": {\"action\": \"create\", \"id\": \"preferences\"}}", ("manage_user_memory",), 0),
 ("gigachat", "I'll check that for you.<|message_sep|>\n\nfunction call<|role_sep|>\n{\"name\": \"manage_user_memory\", \"arguments\": {\"action\": \"create\", \"id\": \"preferences\"}}</s>", ("manage_user_memory",), 0),
 ("gigachat", "<|function_call|>{\"name\": \"manage_user_memory\", \"arguments\": {\"action\": \"create\", \"id\": \"preferences\"}}", ("manage_user_memory",), 0),
 ("gigachat", "<|function_call|>{\"name\": \"manage_user_memory\", \"arguments\": {}}", ("manage_user_memory",), 0),
 ("gigachat", "<|function_call|>{\"name\": \"manage_user_memory\", \"arguments\": {\"action\": \"create\", \"id\": \"preferences\", \"content\": {\"short_answers\": true, \"english_ui\": false}}}", ("manage_user_memory",), 0),
 ("gigachat", "I'll check that for you.<|function_call|>{\"name\": \"manage_user_memory\", \"arguments\": {\"action\": \"create\", \"id\": \"preferences\"}}", ("manage_user_memory",), 0),
 ("gigachat", "I'll check that for you.<|function_call|>{\"name\": \"manage_user_memory\", \"arguments\": {\"action\": \"create\", \"id\": \"preferences\"}}</s>", ("manage_user_memory",), 0),
 ("gigachat", "<|function_call|>{\"name\": \"manage_user_memory\", \"argument", (), 1),
 # vllm tests/tool_parsers/test_step3p5_tool_parser.py (Step 3.5: Qwen3-Coder syntax)
 ("qwen3_coder", "This is a test without tools", (), 0),
 ("qwen3_coder", 'Let me calculate that area for you.<tool_call>\n<function=calculate_area>\n<parameter=shape>\ncircle\n</parameter>\n<parameter=dimensions>\n{"radius": 15.5}\n</parameter>\n<parameter=precision>\n3\n</parameter>\n</function>\n</tool_call>', ("calculate_area",), 0),
 ("qwen3_coder", '<tool_call>\n<function=test_types>\n<parameter=int_param>\n42\n</parameter>\n<parameter=obj_param>\n{"key": "value"}\n</parameter>\n</function>\n</tool_call>', ("test_types",), 0),
 # sglang test/registered/function_call/test_gpt_oss_detector.py
 ("harmony", '<|channel|>analysis<|message|>Reasoning...<|end|><|start|>assistant<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>{\n  "files": []\n}<|call|><|start|>assistant<|channel|>final<|message|>This text should be truncated.', ("read_file",), 0),
 ("harmony", "<|start|>assistant<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>{}<|call|>", ("read_file",), 0),
 # sglang test/registered/function_call/test_deepseekv31_detector.py
 ("deepseek", '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Tokyo"}<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>', ("get_weather", "get_weather"), 0),
 ("deepseek", '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Tokyo"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>', ("get_weather",), 0),
 ("deepseek", '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Tok', (), 1),
 # sglang test/registered/function_call/test_glm47_moe_detector.py (GLM 4.7: no newline after the name)
 ("glm45", "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Beijing</arg_value><arg_key>date</arg_key><arg_value>2024-06-27</arg_value></tool_call>", ("get_weather",), 0),
 ("glm45", "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Beijing</arg_value></tool_call><tool_call>get_weather<arg_key>city</arg_key><arg_value>Shanghai</arg_value></tool_call>", ("get_weather", "get_weather"), 0),
 ("glm45", "<tool_call>list_filenames</tool_call>", ("list_filenames",), 0),
 ("glm45", "<tool_call>invalid_func<arg_key>city</arg_key><arg_value>Beijing</arg_value></tool_call>", ("invalid_func",), 0),  # SGLang drops a name not among the tools offered; every name is read here (only the bail tool's counts)
 ("glm45", '<tool_call>todo_write<arg_key>todos</arg_key><arg_value>[{"id": "1", "task": "Check file at C:\\\\Users\\\\test.txt", "status": "pending"}]</arg_value></tool_call>', ("todo_write",), 0),
 ("glm45", "I'll create a task.<tool_call>create_task<arg_key>title</arg_key><arg_value>Go to Beijing</arg_value><arg_key>location</arg_key><arg_value>San Francisco</arg_value></tool_call>", ("create_task",), 0),
 ("glm45", "<tool_call>create_task<arg_key>title</arg_key><arg_value>Go to Bei", (), 1),
]


@pytest.mark.parametrize("fmt,reply,names,truncated", CASES)
def test_the_engines_cases_read_as_the_engines_read_them(fmt, reply, names, truncated):
    calls = read_calls(strip_thinking(reply), fmt)
    assert (calls.names, calls.truncated) == (names, truncated)


def test_the_table_covers_the_engines_and_names_known_formats():
    assert len(CASES) >= 150
    assert {fmt for fmt, *_ in CASES} <= set(FORMATS)


S = "switchconversation_tool"


# The whole path a reply takes in the tool method (thinking removed, then the reader), with the bail
# tool in the engines' own shapes.
@pytest.mark.parametrize("fmt,reply,verdict,truncated", [
    # llama.cpp tests/test-chat.cpp (Hermes 2 Pro): a call inside unclosed reasoning that opens the reply
    (H, f'<think><tool_call>{{"name": "{S}", "arguments": {{}}}}</tool_call>', "continue", False),
    # llama.cpp tests/test-chat.cpp (QwQ: the template opened <think>, the reply closes it)
    (H, f'I\'m\nthinking</think>\n<tool_call>{{"name": "{S}", "arguments": {{}}}}</tool_call>', "bail", False),
    # llama.cpp tests/test-chat.cpp (DeepSeek V3.1): a call in the reasoning, another after it
    ("deepseek", f"REASONING<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>{S}<｜tool▁sep｜>{{}}<｜tool▁call▁end｜>"
                 "<｜tool▁calls▁end｜>REASONING</think><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>"
                 '{"city": "Tokyo"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>', "continue", False),
    # llama.cpp tests/test-chat.cpp (GPT-OSS): the call's <|call|> stop token dropped by the server
    ("harmony", f"<|channel|>analysis<|message|>I'm\nthinking<|end|><|start|>assistant<|channel|>commentary "
                f"to=functions.{S} <|constrain|>json<|message|>{{}}", "bail", False),
    # vllm tests/tool_parsers/test_mistral_tool_parser.py (v11, content before the call)
    ("mistral", f"bla[TOOL_CALLS]{S}{{}}", "bail", False),
    # vllm tests/tool_parsers/test_glm4_moe_tool_parser.py (incomplete: no </tool_call>)
    ("glm45", f"<tool_call>{S}\n<arg_key>why</arg_key>\n<arg_value>rude", "continue", True),
    # vllm tests/tool_parsers/test_kimi_k2_tool_parser.py (a bare counter id: vLLM infers the name from
    # the one tool offered; bailbench's reader never sees the tools, so this is no call, counted apart)
    ("kimi_k2", KW(K("0", "{}")), "continue", True),
    # vllm tests/tool_parsers/test_llama3_json_tool_parser.py (a name inside the arguments is not a call)
    ("llama3", f'{{"name": "searchTool", "parameters": {{"name": "{S}"}}}}', "continue", False),
])
def test_the_bail_tool_in_the_engines_shapes(fmt, reply, verdict, truncated):
    reading = read_tool_call(reply, [], "Baseline", fmt)
    assert (reading.verdict, reading.truncated) == (verdict, truncated)

// Tool calling and structured output for the OpenAI-shaped API. Re-exports only.

export { HERMES, LLAMA3, MINICPM4, parseToolCalls, ToolCallSplitter, toolFormatFor, TOOL_FORMATS, type ParsedCall, type SplitEvent, type ToolDef, type ToolFormat } from './formats.js';
export { parsePythonCalls, type PythonCall } from './python-call.js';
export { planStructured, templateMessages, withTools, type PlanContext, type StructuredPlan, type StructuredRequest, type TemplateMessage } from './plan.js';

// The JavaScript `ollama` client through its whole API against a server (the sandbox in
// tests/sandbox/test_js_client.py). Usage: node client_api.mjs http://127.0.0.1:PORT
// Prints one JSON object: for each step, what the client returned or the error it raised.
import { Ollama } from 'ollama'

const host = process.argv[2]
const ollama = new Ollama({ host })
const out = {}

async function step (name, fn) {
  try {
    out[name] = await fn()
  } catch (e) {
    out[name] = { error: e.message, name: e.name, status_code: e.status_code ?? null }
  }
}

async function collect (iterator) {
  const parts = []
  for await (const part of iterator) parts.push(part)
  return parts
}

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])
// a function tool that takes a city
const cityTool = (name, description) => ({
  type: 'function',
  function: {
    name,
    description,
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }
  }
})
const weather = cityTool('get_weather', 'Get the current weather for a city')
const time = cityTool('get_time', 'Get the local time in a city')

await step('version', () => ollama.version())
await step('list', async () => (await ollama.list()).models.map(m => ({
  name: m.name, capabilities: m.capabilities, size: m.size, family: m.details.family
})))
await step('show', async () => {
  const s = await ollama.show({ model: 'llama3.2' })
  return {
    family: s.details.family,
    capabilities: s.capabilities,
    tools_in_template: s.template.includes('.Tools'),
    model_info_keys: Object.keys(s.model_info).length,
    modelfile_starts: s.modelfile.split('\n')[0]
  }
})
await step('generate', async () => {
  const r = await ollama.generate({ model: 'llama3.2', prompt: 'Why is the sky blue?' })
  return { response: r.response, done: r.done, done_reason: r.done_reason, context: r.context.length }
})
await step('generate_stream', async () => {
  const parts = await collect(await ollama.generate({
    model: 'llama3.2', prompt: 'Why is the sky blue?', stream: true
  }))
  return { text: parts.map(p => p.response).join(''), chunks: parts.length, last_done: parts.at(-1).done }
})
await step('generate_images', async () => {
  const r = await ollama.generate({ model: 'llama3.2', prompt: 'What is this?', images: [PNG, PNG] })
  return { response: r.response }
})
await step('chat', async () => {
  const r = await ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'Hello' }] })
  return { role: r.message.role, content: r.message.content, eval_count: r.eval_count }
})
await step('chat_stream_thinking', async () => {
  const parts = await collect(await ollama.chat({
    model: 'qwen3', messages: [{ role: 'user', content: 'Name a colour' }], stream: true, think: true
  }))
  return {
    thinking: parts.map(p => p.message.thinking ?? '').join(''),
    content: parts.map(p => p.message.content).join(''),
    done_reason: parts.at(-1).done_reason
  }
})
await step('chat_tools', async () => {
  const r = await ollama.chat({
    model: 'llama3.2',
    messages: [{ role: 'user', content: 'What is the weather in Paris and the time in Tokyo?' }],
    tools: [weather, time]
  })
  return r.message.tool_calls.map(c => [c.function.name, c.function.arguments])
})
await step('chat_tool_result', async () => {
  const r = await ollama.chat({
    model: 'llama3.2',
    tools: [weather],
    messages: [
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Oslo' } } }] },
      { role: 'tool', tool_name: 'get_weather', content: '3 degrees and snowing' }
    ]
  })
  return r.message.content
})
await step('chat_format_schema', async () => {
  const r = await ollama.chat({
    model: 'llama3.2',
    messages: [{ role: 'user', content: 'Ada Lovelace is 36 years old.' }],
    format: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name', 'age'] }
  })
  return JSON.parse(r.message.content)
})
await step('chat_logprobs', async () => {
  const r = await ollama.chat({
    model: 'llama3.2', messages: [{ role: 'user', content: 'Hello' }], logprobs: true, top_logprobs: 2
  })
  return {
    joined: r.logprobs.map(l => l.token).join('') === r.message.content,
    top: r.logprobs[0].top_logprobs.length
  }
})
await step('embed', async () => {
  const r = await ollama.embed({ model: 'all-minilm', input: ['hello world', 'goodbye'] })
  return { rows: r.embeddings.length, dims: r.embeddings[0].length, norm: Math.hypot(...r.embeddings[0]) }
})
await step('embeddings', async () => (await ollama.embeddings({ model: 'all-minilm', prompt: 'hi' })).embedding.length)
await step('pull_stream', async () => {
  const parts = await collect(await ollama.pull({ model: 'gemma3:1b', stream: true }))
  return parts.map(p => p.status)
})
await step('pull', async () => (await ollama.pull({ model: 'gemma3:1b' })).status)
await step('create', async () => {
  const parts = await collect(await ollama.create({
    model: 'pirate', from: 'llama3.2', system: 'You are a pirate.', stream: true
  }))
  return parts.at(-1).status
})
await step('show_created', async () => (await ollama.show({ model: 'pirate' })).system)
await step('copy', async () => (await ollama.copy({ source: 'pirate', destination: 'pirate2' })).status)
await step('delete', async () => (await ollama.delete({ model: 'pirate2' })).status)
await step('push', async () => {
  const parts = await collect(await ollama.push({ model: 'pirate', stream: true }))
  return [parts[0].status, parts.at(-1).status]
})
await step('ps', async () => (await ollama.ps()).models.map(m => m.name))
await step('list_after', async () => (await ollama.list()).models.map(m => m.name))
await step('error_not_found', () => ollama.chat({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }))
await step('error_pull', () => ollama.pull({ model: 'no-such-model' }))
await step('error_delete', () => ollama.delete({ model: 'no-such-model' }))

const faulty = new Ollama({ host, headers: { 'X-Sandbox-Fault': 'error_after; n=3; message=boom' } })
await step('error_mid_stream', async () => {
  const seen = []
  try {
    for await (const part of await faulty.generate({ model: 'llama3.2', prompt: 'hi', stream: true })) {
      seen.push(part.response)
    }
  } catch (e) {
    return { chunks: seen.length, error: e.message }
  }
  return { chunks: seen.length, error: null }
})

const slow = new Ollama({ host, headers: { 'X-Sandbox-Fault': 'latency; seconds=0.05' } })
await step('abort', async () => {
  const stream = await slow.generate({ model: 'llama3.2', prompt: 'Write 300 words about rivers', stream: true })
  const seen = []
  try {
    for await (const part of stream) {
      seen.push(part.response)
      if (seen.length === 2) stream.abort()
    }
  } catch (e) {
    return { chunks: seen.length, name: e.name }
  }
  return { chunks: seen.length, name: null }
})

console.log(JSON.stringify(out))

import { Agent } from '@mastra/core/agent';

// The model is never called by the control-plane tests; it only has to be a
// valid model string so the agent can be registered and listed.
export const sampleAgent = new Agent({
  id: 'sampleAgent',
  name: 'Sample Agent',
  instructions: 'You are a friendly sample agent. Answer briefly and politely.',
  model: 'openai/gpt-4o-mini',
});

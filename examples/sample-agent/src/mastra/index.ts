import { Mastra } from '@mastra/core/mastra';
import { registerApiRoute } from '@mastra/core/server';

import { sampleAgent } from './agents/sample-agent';

// Only variables with this prefix are echoed back, so the route can never
// expose provider keys or platform credentials injected into the process.
const ENV_NAME = /^SAMPLE_[A-Z0-9_]+$/;

export const mastra = new Mastra({
  agents: { sampleAgent },
  server: {
    apiRoutes: [
      registerApiRoute('/sample/env/:name', {
        method: 'GET',
        requiresAuth: false,
        handler: async (c) => {
          const name = c.req.param('name');
          if (!ENV_NAME.test(name)) {
            return c.json({ error: 'only SAMPLE_* variable names are readable' }, 400);
          }
          const value = process.env[name];
          return c.json({ name, set: value !== undefined, value: value ?? null });
        },
      }),
    ],
  },
});

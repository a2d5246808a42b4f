"""trioagent against peer agent servers (LiteLLM proxy, agno AgentOS): see ``run``."""

"""The closed vocabulary of audit tags: ``source:subject:action``.

Add a tag here before using it; ``record_event`` refuses anything else.
"""

import enum


class AuditTag(enum.StrEnum):
    # web: pages for signed-in users
    WEB_AUTH_LOGIN = "web:auth:login"
    WEB_AUTH_LOGIN_FAILED = "web:auth:login_failed"
    WEB_AUTH_LOGOUT = "web:auth:logout"
    WEB_AUTH_PLEDGE = "web:auth:pledge"
    WEB_AUTH_PASSWORD = "web:auth:password"
    WEB_AUTH_CSRF_REJECTED = "web:auth:csrf_rejected"
    WEB_ENTITY_SEARCH = "web:entity:search"
    WEB_ENTITY_READ = "web:entity:read"
    WEB_RECORD_READ = "web:record:read"
    WEB_RECORD_DENIED = "web:record:denied"
    WEB_RECORD_CORRECT = "web:record:correct"
    WEB_RECORD_WITHDRAW = "web:record:withdraw"
    WEB_RECORD_EXPORT = "web:record:export"
    WEB_PERSON_SEARCH = "web:person:search"
    WEB_HOME_READ = "web:home:read"
    WEB_USER_DISABLE = "web:user:disable"
    WEB_USER_ADD = "web:user:add"
    WEB_USER_TOKEN = "web:user:token"
    WEB_USER_LIST = "web:user:list"
    # api: bearer-token JSON API
    API_ENTITY_SEARCH = "api:entity:search"
    API_ENTITY_READ = "api:entity:read"
    API_RECORD_READ = "api:record:read"
    API_RECORD_DENIED = "api:record:denied"
    API_AUTH_REJECTED = "api:auth:rejected"
    API_RECORD_CORRECT = "api:record:correct"
    API_RECORD_WITHDRAW = "api:record:withdraw"
    API_RECORD_EXPORT = "api:record:export"
    # public site: no login
    PUBLIC_RECORD_SEARCH = "public:record:search"
    # cli: operator commands
    CLI_DATABASE_INIT = "cli:database:init"
    CLI_AGENCIES_IMPORT = "cli:agencies:import"
    CLI_REGISTRY_IMPORT = "cli:registry:import"
    CLI_USER_ADD = "cli:user:add"
    CLI_USER_TOKEN = "cli:user:token"
    CLI_USER_DISABLE = "cli:user:disable"
    CLI_DEMO_LOAD = "cli:demo:load"
    CLI_AUDIT_CHECKPOINT = "cli:audit:checkpoint"
    CLI_AUDIT_VERIFY = "cli:audit:verify"
    CLI_ENTITY_READ = "cli:entity:read"
    CLI_RECORD_READ = "cli:record:read"
    CLI_ENTITY_SEARCH = "cli:entity:search"
    CLI_RECORD_DENIED = "cli:record:denied"
    CLI_KEYS_ROTATE = "cli:keys:rotate"
    # jobs: scheduled work
    JOB_AUDIT_CHECKPOINT = "job:audit:checkpoint"
    JOB_KEYS_ROTATE = "job:keys:rotate"
    # security events raised by the platform itself
    SECURITY_DECRYPT_FAILED = "security:person:decrypt_failed"
    SECURITY_LOCKOUT = "security:account:locked"
    SECURITY_RATE_LIMITED = "security:login:rate_limited"

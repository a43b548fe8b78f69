#!/usr/bin/env bash
# devstack plugin of freezer-api: devstack sources this file as
#   plugin.sh stack install|post-config|extra,  plugin.sh unstack,
#   plugin.sh clean
# after devstack/settings. The service runs under uWSGI
# (etc/freezer/uwsgi.conf, the module freezer_api.wsgi:application) on
# $FREEZER_API_LISTEN:$FREEZER_API_PORT, as devstack process
# "freezer-api"; Keystone gets the service "freezer" of type "backup".

function install_freezer_api {
    setup_develop "$FREEZER_API_DIR"
    pip_install uwsgi
}

function _freezer_api_database_url {
    # devstack's URL asks for charset=utf8 (3-byte); the schema is utf8mb4.
    local url
    url=$(database_connection_url freezer)
    url=${url//charset=utf8mb4/charset=utf8}
    echo "${url//charset=utf8/charset=utf8mb4}"
}

function configure_freezer_api {
    sudo install -d -o "$STACK_USER" -m 0755 "$FREEZER_API_CONF_DIR"
    cp "$FREEZER_API_DIR/etc/freezer/freezer-api.conf.sample" "$FREEZER_API_CONF"
    cp "$FREEZER_API_DIR/etc/freezer/freezer-paste.ini" "$FREEZER_API_CONF_DIR/"

    iniset "$FREEZER_API_CONF" DEFAULT debug "$ENABLE_DEBUG_LOG_LEVEL"
    iniset "$FREEZER_API_CONF" DEFAULT use_stderr True
    iniset "$FREEZER_API_CONF" healthcheck disable_by_file_path \
        "$FREEZER_API_CONF_DIR/healthcheck_disable"
    iniset "$FREEZER_API_CONF" storage driver "$FREEZER_API_STORAGE"
    if [[ "$FREEZER_API_STORAGE" == "elasticsearch" ]]; then
        iniset "$FREEZER_API_CONF" elasticsearch hosts "$FREEZER_API_ES_HOSTS"
        iniset "$FREEZER_API_CONF" elasticsearch number_of_replicas 0
        if [[ -n "$FREEZER_API_ES_USER" ]]; then
            iniset "$FREEZER_API_CONF" elasticsearch username "$FREEZER_API_ES_USER"
            iniset "$FREEZER_API_CONF" elasticsearch password "$FREEZER_API_ES_PASSWORD"
        fi
    else
        iniset "$FREEZER_API_CONF" database connection "$(_freezer_api_database_url)"
    fi

    if type -t configure_keystone_authtoken_middleware >/dev/null; then
        configure_keystone_authtoken_middleware "$FREEZER_API_CONF" freezer
    else
        configure_auth_token_middleware "$FREEZER_API_CONF" freezer
    fi
    iniset "$FREEZER_API_CONF" keystone_authtoken service_type backup

    cp "$FREEZER_API_DIR/etc/freezer/uwsgi.conf" "$FREEZER_API_UWSGI_CONF"
    iniset "$FREEZER_API_UWSGI_CONF" uwsgi http-socket \
        "$FREEZER_API_LISTEN:$FREEZER_API_PORT"
    iniset "$FREEZER_API_UWSGI_CONF" uwsgi env "FREEZER_API_CONFIG=$FREEZER_API_CONF"
    iniset "$FREEZER_API_UWSGI_CONF" uwsgi processes "${API_WORKERS:-2}"
}

function create_freezer_api_accounts {
    create_service_user freezer admin
    get_or_create_service freezer backup "Freezer Backup Service"
    get_or_create_endpoint backup "$REGION_NAME" \
        "$FREEZER_API_SERVICE_PROTOCOL://$SERVICE_HOST:$FREEZER_API_PORT"
}

function init_freezer_api {
    if [[ "$FREEZER_API_STORAGE" != "elasticsearch" ]]; then
        recreate_database freezer
    fi
    freezer-manage --config-file "$FREEZER_API_CONF" db sync
    freezer-manage --config-file "$FREEZER_API_CONF" db show
}

function start_freezer_api {
    run_process freezer-api "$(get_python_exec_prefix)/uwsgi --procname-prefix freezer-api --ini $FREEZER_API_UWSGI_CONF"
    local url="$FREEZER_API_SERVICE_PROTOCOL://$SERVICE_HOST:$FREEZER_API_PORT/healthcheck"
    if ! wait_for_service "${SERVICE_TIMEOUT:-60}" "$url"; then
        die $LINENO "freezer-api did not start: $url"
    fi
}

function stop_freezer_api {
    stop_process freezer-api
}

function cleanup_freezer_api {
    rm -f "$FREEZER_API_UWSGI_CONF" "$FREEZER_API_CONF_DIR/freezer-paste.ini"
}

if is_service_enabled freezer-api; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing freezer-api"
        install_freezer_api
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring freezer-api"
        configure_freezer_api
        create_freezer_api_accounts
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "Starting freezer-api"
        init_freezer_api
        start_freezer_api
    fi
    if [[ "$1" == "unstack" ]]; then
        stop_freezer_api
    fi
    if [[ "$1" == "clean" ]]; then
        cleanup_freezer_api
    fi
fi

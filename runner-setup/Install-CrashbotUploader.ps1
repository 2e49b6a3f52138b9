<#
.SYNOPSIS
    Run `crashbot watch` on the game host as a Windows service (WinSW) under its own virtual account.

.DESCRIPTION
    NEVER RUN: written and checked at the level of the commands it runs (tests/test_windows_uploader.py);
    there is no Windows here. Treat a first install as a trial.

    - Service wrapper: WinSW (https://github.com/winsw/winsw, MIT), one exe that runs a console program
      as a service and stops it with Ctrl+C, which `crashbot watch` handles cleanly. Download
      WinSW-x64.exe from its GitHub releases and pass it as -WinSWExe (it is copied next to its XML).
    - Account: the virtual account NT SERVICE\<ServiceName>: no password, no logon rights, no admin.
      It gets read access to the crash folders and write access to %ProgramData%\crashbot only.
    - %ProgramData%\crashbot holds the spool (the same one `crashbot upload` uses when an
      administrator runs it by hand), logs\ (crashbot's rotated watch.log and WinSW's own logs) and
      credentials\ (one file per secret, named like its variable). Its ACL is explicit, inheritance off.
    - Auth as crashbot.toml says: when it sets github.app_id, -AppPrivateKeyFile is required and stored
      as credentials\CRASHBOT_APP_PRIVATE_KEY; otherwise a token is asked for (CRASHBOT_TOKEN). The
      signing key is always asked for (CRASHBOT_SIGNING_KEY).
    - Restarts on failure: sc.exe failure actions (10 s, 1 min, 5 min; counter reset after a day).
    Idempotent; supports -WhatIf. Run from an elevated PowerShell.

.EXAMPLE
    .\Install-CrashbotUploader.ps1 -CrashDir D:\WoW\Server\Crashes -Config C:\crashbot\crashbot.toml `
        -CrashbotSpec C:\Downloads\crashbot-0.1.0-py3-none-any.whl -WinSWExe C:\Downloads\WinSW-x64.exe
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [Parameter(Mandatory = $true)][string[]]$CrashDir,
    [Parameter(Mandatory = $true)][string]$Config,
    [Parameter(Mandatory = $true)][string]$CrashbotSpec,  # wheel path, git URL or checkout (see CrashbotSpec.ps1)
    [Parameter(Mandatory = $true)][string]$WinSWExe,
    [string]$AppPrivateKeyFile = '',
    [string]$CrashbotHome = 'C:\crashbot',
    [string]$ServiceName = 'crashbot-watch'
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

. (Join-Path $PSScriptRoot 'CrashbotSpec.ps1')
Assert-CrashbotSpec $CrashbotSpec
if (-not (Test-Path $Config)) { throw "Config $Config not found (create it with: crashbot init)." }
if (-not (Test-Path $WinSWExe)) { throw "WinSW not found at $WinSWExe: download WinSW-x64.exe from https://github.com/winsw/winsw/releases and pass its path." }

# Auth the way crashbot.toml configures it: App ids there mean the App key must be stored, not a token.
$usesApp = [bool](Select-String -Path $Config -Pattern '^\s*app_id\s*=\s*"?[0-9]+' -Quiet)
if ($usesApp -and -not $AppPrivateKeyFile) { throw "$Config sets github.app_id, so crashbot signs in as the GitHub App: pass -AppPrivateKeyFile <the App's .pem>." }
if (-not $usesApp -and $AppPrivateKeyFile) { throw "-AppPrivateKeyFile was given but $Config sets no github.app_id: add the App id and installation id there, or drop -AppPrivateKeyFile to use a token." }
if ($AppPrivateKeyFile -and -not (Test-Path $AppPrivateKeyFile)) { throw "App private key $AppPrivateKeyFile not found." }

$account = "NT SERVICE\$ServiceName"
$data = Join-Path $env:ProgramData 'crashbot'
$logs = Join-Path $data 'logs'
$credentials = Join-Path $data 'credentials'
$venv = Join-Path $CrashbotHome 'venv'
$crashbot = Join-Path $venv 'Scripts\crashbot.exe'
$wrapper = Join-Path $CrashbotHome "$ServiceName.exe"
$xmlPath = Join-Path $CrashbotHome "$ServiceName.xml"

# 1. crashbot itself, from the explicit spec (rerun with a newer wheel to upgrade).
if ($PSCmdlet.ShouldProcess($venv, "pip install $CrashbotSpec")) {
    New-Item -ItemType Directory -Force -Path $CrashbotHome | Out-Null
    if (-not (Test-Path (Join-Path $venv 'Scripts\python.exe'))) { python -m venv $venv }
    & (Join-Path $venv 'Scripts\python.exe') -m pip install --upgrade $CrashbotSpec
    if ($LASTEXITCODE -ne 0) { throw "pip install $CrashbotSpec failed with exit code $LASTEXITCODE." }
}

# 2. The service definition: WinSW runs crashbot watch; secrets come from the credentials folder.
# <stoptimeout> is the time crashbot watch stops within whatever github.timeout_s is
# (SERVICE_STOP_TIMEOUT_S in bot/uploader/supervisor.py): change the two together.
$esc = { param($s) [Security.SecurityElement]::Escape($s) }
$quoted = ($CrashDir | ForEach-Object { '"' + $_ + '"' }) -join ' '
$arguments = "--config `"$Config`" watch --log-file `"$(Join-Path $logs 'watch.log')`" $quoted"
$xml = @"
<service>
  <id>$(& $esc $ServiceName)</id>
  <name>crashbot uploader ($(& $esc $ServiceName))</name>
  <description>Files worldserver crash reports as GitHub issues (crashbot watch).</description>
  <executable>$(& $esc $crashbot)</executable>
  <arguments>$(& $esc $arguments)</arguments>
  <env name="CREDENTIALS_DIRECTORY" value="$(& $esc $credentials)"/>
  <startmode>Automatic</startmode>
  <delayedAutoStart>true</delayedAutoStart>
  <stoptimeout>30 sec</stoptimeout>
  <logpath>$(& $esc $logs)</logpath>
  <log mode="roll-by-size"><sizeThreshold>10240</sizeThreshold><keepFiles>5</keepFiles></log>
</service>
"@
if ($PSCmdlet.ShouldProcess($xmlPath, 'write the WinSW service definition')) {
    Copy-Item -Force $WinSWExe $wrapper
    Set-Content -Path $xmlPath -Value $xml -Encoding UTF8
}

# An earlier install ran the uploader as a scheduled task of the same name: two uploaders would race.
if (Get-ScheduledTask -TaskName $ServiceName -ErrorAction SilentlyContinue) {
    if ($PSCmdlet.ShouldProcess($ServiceName, 'remove the old scheduled task (replaced by the service)')) {
        Unregister-ScheduledTask -TaskName $ServiceName -Confirm:$false
        Write-Warning "Removed the old $ServiceName scheduled task; $CrashbotHome\secrets.env is no longer read (delete it)."
    }
}

# 3. Register (or refresh) the service, under its virtual account, restarting on failure.
$existing = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
if ($PSCmdlet.ShouldProcess($ServiceName, "install the service as $account")) {
    if ($existing) {
        & $wrapper stop | Out-Null
        & $wrapper uninstall | Out-Null
    }
    & $wrapper install
    if ($LASTEXITCODE -ne 0) { throw "WinSW could not install $ServiceName (exit code $LASTEXITCODE); see $logs." }
    sc.exe config $ServiceName obj= $account
    if ($LASTEXITCODE -ne 0) { throw "sc.exe could not set the account $account on $ServiceName." }
    sc.exe failure $ServiceName reset= 86400 actions= restart/10000/restart/60000/restart/300000
    if ($LASTEXITCODE -ne 0) { throw "sc.exe could not set the failure actions of $ServiceName." }
}

# 4. Folders and their ACLs (the virtual account exists once the service does).
if ($PSCmdlet.ShouldProcess($data, "create with an explicit ACL (SYSTEM, Administrators, $account)")) {
    New-Item -ItemType Directory -Force -Path $data, $logs, $credentials | Out-Null
    icacls $data /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'Administrators:(OI)(CI)F' "${account}:(OI)(CI)M" | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "icacls failed on $data." }
    icacls $credentials /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'Administrators:(OI)(CI)F' "${account}:(OI)(CI)R" | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "icacls failed on $credentials." }
    foreach ($dir in $CrashDir) {
        # worldserver creates Crashes\ at its first crash: grant on the parent until then
        $target = if (Test-Path $dir) { $dir } else { Split-Path -Parent $dir }
        icacls $target /grant "${account}:(OI)(CI)RX" | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "icacls could not give $account read access to $target." }
    }
}

# 5. Secrets: one file each in the credentials folder (readable by the service account only).
function Write-Credential([string]$Name, [string]$Value) {
    $path = Join-Path $credentials $Name
    if ($PSCmdlet.ShouldProcess($path, 'store the credential')) {
        [IO.File]::WriteAllText($path, $Value, (New-Object Text.UTF8Encoding($false)))
    }
}
$plain = { param($s) [Runtime.InteropServices.Marshal]::PtrToStringBSTR([Runtime.InteropServices.Marshal]::SecureStringToBSTR($s)) }
if ($AppPrivateKeyFile) {
    Write-Credential 'CRASHBOT_APP_PRIVATE_KEY' ([IO.File]::ReadAllText($AppPrivateKeyFile))
    Remove-Item -ErrorAction SilentlyContinue (Join-Path $credentials 'CRASHBOT_TOKEN')
} elseif (-not (Test-Path (Join-Path $credentials 'CRASHBOT_TOKEN'))) {
    Write-Credential 'CRASHBOT_TOKEN' (& $plain (Read-Host -AsSecureString 'GitHub token of the uploader identity (CRASHBOT_TOKEN)'))
}
if (-not (Test-Path (Join-Path $credentials 'CRASHBOT_SIGNING_KEY'))) {
    Write-Credential 'CRASHBOT_SIGNING_KEY' (& $plain (Read-Host -AsSecureString 'HMAC signing key shared with the fix workflow (CRASHBOT_SIGNING_KEY)'))
}

# 6. Start, and say where to look.
if ($PSCmdlet.ShouldProcess($ServiceName, 'start')) {
    Start-Service -Name $ServiceName
    Write-Host "Started $ServiceName as $account. Logs: $logs\watch.log; spool: $data\spool.sqlite3."
    Write-Host "Check the setup as the service sees it (an elevated PowerShell can read the credentials):"
    Write-Host "  `$env:CREDENTIALS_DIRECTORY = '$credentials'; & '$crashbot' --config '$Config' doctor"
}

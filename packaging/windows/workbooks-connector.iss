; Inno Setup 6 script: a per-user Windows installer around the PyInstaller one-folder bundle.
;
;   (on Windows, after packaging/build.sh has made dist\workbooks-connector\)
;   iscc packaging\windows\workbooks-connector.iss   ->  dist\workbooks-connector-<version>-setup.exe
;
; The version is not written here: it is read from the VERSIONINFO resource that the spec puts
; into workbooks-connector.exe from app/__init__.py, the one place it lives.
; The Run value name and key are the ones app/autostart/windows.py uses, so the installer's
; "start at sign-in" task and the app's settings switch the same entry, and uninstalling removes
; it whichever of the two wrote it. Not yet built on Windows (see packaging/README.md).

#define AppName "Workbooks connector"
#define AppExe "workbooks-connector.exe"
#define Bundle "..\..\dist\workbooks-connector"
#define AppVersion GetStringFileInfo(Bundle + "\" + AppExe, "ProductVersion")
#if AppVersion == ""
  #error "No version in dist\workbooks-connector\workbooks-connector.exe: build the bundle first"
#endif

[Setup]
AppId={{64B068B9-A5F3-4F88-A40C-D1899A4DBFA1}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppName}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; per-user: no administrator rights, and HKCU below is this user's
PrivilegesRequired=lowest
OutputDir=..\..\dist
OutputBaseFilename=workbooks-connector-{#AppVersion}-setup
SetupIconFile=..\icons\workbooks-connector.ico
UninstallDisplayIcon={app}\{#AppExe}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; a running tray app is closed (Restart Manager) before files are replaced
CloseApplications=yes

[Tasks]
Name: "autostart"; Description: "Start {#AppName} when I sign in to Windows"; Flags: unchecked

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"

[Registry]
; start at sign-in when the task is ticked ...
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "Workbooks connector"; ValueData: """{app}\{#AppExe}"""; Tasks: autostart
; ... and on uninstall remove the value whoever wrote it (the installer or the app's settings)
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: none; ValueName: "Workbooks connector"; Flags: uninsdeletevalue dontcreatekey
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"; ValueType: none; ValueName: "Workbooks connector"; Flags: uninsdeletevalue dontcreatekey

[Run]
Filename: "{app}\{#AppExe}"; Description: "Start {#AppName} now"; Flags: nowait postinstall skipifsilent
